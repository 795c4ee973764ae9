import { create } from "@bufbuild/protobuf";
import { type Instance, type Replica, type UnreadyInstance, UnreadyInstanceSchema } from "@tei-fleet/proto/fleet/v1";
import { type AggregateStatus, aggregateStatus } from "../instances/instance-status.ts";

/**
 * The unready entry of an instance that has no route, from its instance and replica records: its
 * model and why it serves nothing, so that a router can tell "known but not ready" (UNAVAILABLE)
 * from "unknown" (NOT_FOUND). An instance whose record cannot be decoded gets one too, with reason
 * "unreadable: ...": it exists, so routers answer UNAVAILABLE for it, and the rest of the table is
 * unaffected. These entries are stored (routes-unready), written by unready-sync.ts.
 */
export function unreadyEntry(name: string, instance: Instance, replicas: readonly Replica[]): UnreadyInstance {
  return create(UnreadyInstanceSchema, {
    instanceName: name,
    modelId: instance.spec?.modelId ?? "",
    reason: describe(aggregateStatus(instance, replicas)),
  });
}

/** "stopped", "starting", "pending: insufficient GPU memory ..." (short: it ends up in gRPC statuses). */
function describe(s: Pick<AggregateStatus, "status" | "reason">): string {
  // aggregateStatus's filler ("replica 0 starting") says nothing the status does not.
  if (s.status === "stopped" || s.reason === "" || /^replica \d+ [a-z ]+$/.test(s.reason)) return s.status;
  // Replicas reported running but none routed (a router just ejected it, a report in flight).
  if (s.status === "running") return "no ready replica";
  return `${s.status}: ${s.reason}`.slice(0, 300);
}
