import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  GetKeyUsageResponseSchema,
  ListUsageResponseSchema,
  type ReportUsageRequest,
  type ReportUsageResponse,
  ReportUsageResponseSchema,
  type UsageCounts,
  UsageCountsSchema,
  UsageService,
} from "@tei-fleet/proto/fleet/v1";
import { ApiError } from "../errors/api-error.ts";
import { GROUP_BY, type GroupBy, parsePeriod, type UsageQuery } from "./usage-query.ts";
import { parseUsageReport } from "./usage-report.ts";
import type { ModelUsage, UsageStore } from "./usage-store.ts";

/** AdmissionService.ReportUsage (registered beside RenewShares, admission-connect.ts). */
export function reportUsageHandler(store: UsageStore): (req: ReportUsageRequest) => Promise<ReportUsageResponse> {
  return async (req) => create(ReportUsageResponseSchema, { counted: await store.record(parseUsageReport(req)) });
}

const counts = (u: ModelUsage): UsageCounts =>
  create(UsageCountsSchema, {
    requests: BigInt(u.requests),
    inputs: BigInt(u.inputs),
    tokens: BigInt(u.tokens),
    refused: Object.fromEntries(Object.entries(u.refused).map(([r, n]) => [r, BigInt(n)])),
  });

const ms = (v: bigint) => (v === 0n ? undefined : String(v));

/** UsageService over Connect, gRPC and gRPC-web: the REST routes' reads (usage-rest.ts). */
export function usageConnectRoutes(usage: UsageQuery): (router: ConnectRouter) => void {
  return (router) =>
    router.service(UsageService, {
      async getKeyUsage(req) {
        const r = await usage.key(req.id, parsePeriod(ms(req.fromMs), ms(req.toMs)));
        return create(GetKeyUsageResponseSchema, {
          keyId: r.key_id,
          total: counts(r.total),
          models: r.models.map((m) => ({ model: m.model, usage: counts(m) })),
        });
      },
      async listUsage(req) {
        const groupBy = req.groupBy === "" ? "key" : req.groupBy;
        if (!(GROUP_BY as readonly string[]).includes(groupBy)) {
          throw new ApiError("VALIDATION_ERROR", `group_by must be one of ${GROUP_BY.join(", ")}`, { field: "group_by" });
        }
        const r = await usage.grouped(groupBy as GroupBy, parsePeriod(ms(req.fromMs), ms(req.toMs)));
        return create(ListUsageResponseSchema, {
          groupBy,
          total: counts(r.total),
          groups: r.named.map(([name, u]) => ({ name, usage: counts(u) })),
          truncated: r.truncated,
        });
      },
    });
}
