/**
 * The usage meter's counters as router metrics, read at scrape time:
 * `tei_router_key_requests_total{key,model}`, `tei_router_key_inputs_total`,
 * `tei_router_key_tokens_total` and `tei_router_key_refused_total{key,model,reason}`. `key` is
 * the key's id (its name for a keys-file key without one), never the key or its hash. What a
 * router without a control plane (routes file) offers for chargeback; with one, the control
 * plane's `tei_fleet_key_*_total` sum every router.
 */
import { Counter, type Registry } from "prom-client";
import { REFUSAL_REASONS, type UsageMeter } from "./usage-meter.ts";

export function registerUsageMetrics(registry: Registry, meter: UsageMeter): void {
  const labelNames = ["key", "model"];
  new Counter({
    name: "tei_router_key_requests_total",
    help: "Answered calls per API key and model, counted by this router",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of meter.all()) if (c.requests > 0) this.inc({ key: c.keyId, model: c.model }, c.requests);
    },
  });
  new Counter({
    name: "tei_router_key_inputs_total",
    help: "Inputs of answered calls per API key and model",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of meter.all()) if (c.inputs > 0) this.inc({ key: c.keyId, model: c.model }, c.inputs);
    },
  });
  new Counter({
    name: "tei_router_key_tokens_total",
    help: "TEI tokens (x-compute-tokens) of answered calls per API key and model",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of meter.all()) if (c.tokens > 0) this.inc({ key: c.keyId, model: c.model }, c.tokens);
    },
  });
  new Counter({
    name: "tei_router_key_refused_total",
    help: "Refused calls of known API keys, by reason",
    labelNames: ["key", "model", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of meter.all()) {
        REFUSAL_REASONS.forEach((reason, i) => {
          const n = c.refused[i] ?? 0;
          if (n > 0) this.inc({ key: c.keyId, model: c.model, reason }, n);
        });
      }
    },
  });
}
