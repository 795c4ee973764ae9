/**
 * Per-key usage (issue 12 item 6): routers count answered calls, inputs, tokens and refusals per
 * key and model and report deltas (AdmissionService.ReportUsage, deduplicated per router and
 * sequence); the control plane sums them in Redis (usage-store.ts), serves them over REST
 * (usage-rest.ts) and exports them as metrics (usage-metrics.ts).
 */
export { reportUsageHandler, usageConnectRoutes } from "./usage-connect.ts";
export { registerUsageMetrics } from "./usage-metrics.ts";
export { createUsageQuery, type UsageQuery } from "./usage-query.ts";
export { parseUsageReport, type UsageReport } from "./usage-report.ts";
export { usageRestPlugin } from "./usage-rest.ts";
export { createUsageStore, type UsageStore } from "./usage-store.ts";
