import type { InstanceSpec, Replica } from "@tei-fleet/proto/fleet/v1";
import { EVENT_STREAM_MAXLEN } from "../store/event-log.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import type { NodeCache } from "./node-cache.ts";
import { place, type ReplicaRequest } from "./placement.ts";
import { assignmentJson, buildAssignment, buildPlacedReplica, newAssignmentId, type PlacementFacts, replicaJson } from "./replica-records.ts";

/** The message of the instance.placed event. */
function placedMessage(f: PlacementFacts): string {
  const gpu = f.gpuIds.length > 0 ? `GPU ${f.gpuIds.join(",")}` : "CPU";
  return `replica ${f.index} (${f.id}) placed on ${f.node.name} ${gpu}, port ${f.port}`;
}

/** Feasible nodes spread compares on a large fleet (see place()). */
const SPREAD_SAMPLE = 32;

/** How often a replica is re-placed after the claim script found the view stale. */
const MAX_CONFLICTS = 8;

/** The outcome of placing one replica. */
export type ClaimResult = { placed: true; replica: Replica; facts: PlacementFacts; attempts: number } | { placed: false; reason: string; conflicts: boolean };

/**
 * Places one replica and claims its resources: decide on the cached view, then let the claim
 * script check and write atomically. A conflict (another worker claimed the same GPU memory or
 * port, the node changed) refreshes the node from the script's answer and decides again; this
 * is Nomad's optimistic concurrency, with Redis as the plan applier.
 */
export async function claimReplica(
  ctx: SchedulerContext,
  cache: NodeCache,
  spec: InstanceSpec,
  request: ReplicaRequest,
  revision: bigint,
  inUse: (id: string) => boolean,
  salt: number,
  owns?: (node: string) => boolean,
): Promise<ClaimResult> {
  const { redis, keys } = ctx;
  for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
    const decision = place(request, cache.list(), { salt, index: cache.index, owns, sampleLimit: SPREAD_SAMPLE });
    if (!decision.fits) return { placed: false, reason: decision.reason, conflicts: attempt > 0 };
    const node = decision.node;
    const id = newAssignmentId(spec.name, request.index, revision, inUse);
    const facts: PlacementFacts = {
      id,
      index: request.index,
      revision,
      node,
      gpuIds: decision.gpuIds,
      port: decision.port,
      prometheusPort: decision.prometheusPort,
    };
    const replica = buildPlacedReplica(facts);
    const reservation = cache.reserve(node.name, facts.gpuIds, request.memoryMb, [facts.port, facts.prometheusPort]);
    const reply = (await runScript(
      redis,
      "claim-replica",
      [
        keys.node(node.name),
        keys.nodeClaims(node.name),
        keys.assignments(node.name),
        keys.assignmentsVersion(node.name),
        keys.replicas(spec.name),
        keys.events(),
      ],
      [
        node.epoch,
        id,
        assignmentJson(buildAssignment(spec, facts)),
        replicaJson(replica),
        String(request.memoryMb),
        String(facts.port),
        String(facts.prometheusPort),
        keys.changesChannel(),
        id === `${spec.name}-${request.index}-r${revision}` ? "1" : "0",
        node.name,
        spec.name,
        placedMessage(facts),
        String(ctx.now()),
        String(EVENT_STREAM_MAXLEN),
        ...facts.gpuIds.map(String),
      ],
    )) as [number, unknown, unknown?];
    if (reply[0] === 1) {
      cache.settle(reservation);
      return { placed: true, replica, facts, attempts: attempt + 1 };
    }
    const reason = String(reply[1]);
    const flat = (reply[2] ?? []) as string[];
    const claims: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) claims[flat[i]!] = flat[i + 1]!;
    cache.cancel(reservation, claims);
    if (reason === "replica already placed") {
      // Another worker placed this very replica (a retried or recovered job): nothing to do.
      return { placed: false, reason, conflicts: true };
    }
    ctx.logger.debug({ node: node.name, instance: spec.name, reason }, "claim conflict");
    if (reason.startsWith("node")) await cache.reload([node.name]);
  }
  return { placed: false, reason: "placement kept conflicting with other schedulers", conflicts: true };
}
