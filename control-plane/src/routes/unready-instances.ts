import { create } from "@bufbuild/protobuf";
import { UnreadyInstanceSchema, type Route, type UnreadyInstance } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import { aggregateStatus } from "../instances/instance-status.ts";
import { readInstanceRecord, readReplicaRecords } from "../store/instance-record.ts";
import type { KeySchema } from "../store/keys.ts";
import type { RecordProblemReporter } from "../store/record-problems.ts";

/**
 * The instances that exist but have no route, with their model and why, so that a router can
 * tell "known but not ready" (UNAVAILABLE) from "unknown" (NOT_FOUND).
 *
 * `names` is the `instances` index read in the same snapshot as `routes`: every name with a route
 * is ready and costs nothing more; only the others (normally few) are read, in one pipeline.
 * Reasons come from the replica records the scheduler and agents keep; membership changes bump
 * `routes-version` where they are written (create, delete, a route added or removed), and any other
 * change of this list, a reason say, takes a new version when the table is stamped
 * (route-table-version.ts), which watched tables are re-read for on every nudge and every second.
 * An instance whose record cannot be decoded is listed too, with reason "unreadable: ...": it
 * exists, so routers answer UNAVAILABLE for it, and the rest of the table is unaffected.
 */
export async function readUnready(
  redis: Redis, keys: KeySchema, names: readonly string[], routes: readonly Route[], report: RecordProblemReporter,
): Promise<UnreadyInstance[]> {
  const ready = new Set(routes.map((r) => r.instanceName));
  const missing = names.filter((n) => !ready.has(n));
  if (missing.length === 0) return [];
  const pipe = redis.pipeline();
  for (const name of missing) pipe.get(keys.instance(name)).hgetall(keys.replicas(name));
  const results = (await pipe.exec()) ?? [];
  const out: UnreadyInstance[] = [];
  missing.forEach((name, i) => {
    const [recErr, rec] = results[2 * i] ?? [];
    const [repErr, reps] = results[2 * i + 1] ?? [];
    if (recErr) throw recErr;
    if (repErr) throw repErr;
    // Deleted between the snapshot and this read: unknown now, so not listed.
    if (typeof rec !== "string") return;
    const instance = readInstanceRecord(name, rec, report);
    const replicas = readReplicaRecords(name, (reps ?? {}) as Record<string, string>, report);
    out.push(create(UnreadyInstanceSchema, {
      instanceName: name,
      modelId: instance.spec?.modelId ?? "",
      reason: describe(aggregateStatus(instance, replicas)),
    }));
  });
  return out.sort((a, b) => a.instanceName.localeCompare(b.instanceName));
}

/** "stopped", "starting", "pending: insufficient GPU memory ..." (short: it ends up in gRPC statuses). */
function describe(s: { status: string; reason: string }): string {
  // aggregateStatus's filler ("replica 0 starting") says nothing the status does not.
  if (s.status === "stopped" || s.reason === "" || /^replica \d+ [a-z ]+$/.test(s.reason)) return s.status;
  // Replicas reported running but none routed (a router just ejected it, a report in flight).
  if (s.status === "running") return "no ready replica";
  return `${s.status}: ${s.reason}`.slice(0, 300);
}
