import type { Redis } from "ioredis";
import { Counter, type Registry } from "prom-client";
import type { KeySchema } from "../store/keys.ts";
import { MAX_ACTIVE_KEYS, ownersOf } from "./usage-query.ts";
import { HOUR_BUCKET_TTL_MS, type UsageStore } from "./usage-store.ts";

/**
 * `tei_fleet_key_requests_total{key,owner,model}`, `tei_fleet_key_inputs_total` and
 * `tei_fleet_key_tokens_total`, read from Redis at scrape time (the all-time totals, which only
 * grow). Cardinality is bounded: only keys that reported in the last 35 days, at most
 * MAX_ACTIVE_KEYS of them (newest first), and `key` is the key's id (never its name). Every
 * control-plane copy reports the same fleet-wide values: aggregate with max, not sum.
 */
export function registerUsageMetrics(registry: Registry, redis: Redis, keys: KeySchema, store: UsageStore, onError: (err: unknown) => void): void {
  const labelNames = ["key", "owner", "model"];
  let pass: Promise<void> | undefined;
  const collect = () => {
    pass ??= (async () => {
      try {
        const ids = await store.activeKeys(Date.now() - HOUR_BUCKET_TTL_MS, MAX_ACTIVE_KEYS);
        const owners = await ownersOf(redis, keys, ids);
        requests.reset();
        inputs.reset();
        tokens.reset();
        const all = await store.readMany(ids);
        for (const [i, id] of ids.entries()) {
          for (const [model, u] of all[i] ?? []) {
            const l = { key: id, owner: owners.get(id) ?? "", model };
            requests.inc(l, u.requests);
            inputs.inc(l, u.inputs);
            tokens.inc(l, u.tokens);
          }
        }
      } catch (err) {
        onError(err);
      }
    })().finally(() => {
      pass = undefined;
    });
    return pass;
  };
  const requests = new Counter({
    name: "tei_fleet_key_requests_total",
    help: "Answered calls per API key and model (all routers)",
    labelNames,
    registers: [registry],
    collect,
  });
  const inputs = new Counter({
    name: "tei_fleet_key_inputs_total",
    help: "Inputs of answered calls per API key and model",
    labelNames,
    registers: [registry],
    collect,
  });
  const tokens = new Counter({
    name: "tei_fleet_key_tokens_total",
    help: "TEI tokens of answered calls per API key and model",
    labelNames,
    registers: [registry],
    collect,
  });
}
