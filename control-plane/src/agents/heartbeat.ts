import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { parseAssignmentJson, statusOf } from "@tei-fleet/core";
import {
  type Assignment,
  type HeartbeatRequest,
  type HeartbeatResponse,
  HeartbeatResponseSchema,
  ReplicaSchema,
  type ReplicaStatus,
  RouteSchema,
} from "@tei-fleet/proto/fleet/v1";
import { updateFailureClock } from "../agents/failure-clock.ts";
import { updateNode } from "../nodes/node-store.ts";
import { EVENT_STREAM_MAXLEN } from "../store/event-log.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { mergeReplicaStatus, reportFingerprint, transitionEvent } from "./replica-merge.ts";

/** An unchanged report is written again at least this often, repairing anything a skip missed. */
const REWRITE_UNCHANGED_MS = 5000;
/** Free GPU memory reported by agents is written to the node record at most this often... */
const FREE_MEMORY_WRITE_MS = 30_000;
/** ...and only when it moved by more than this (MiB). */
const FREE_MEMORY_DELTA_MB = 512n;

/** The fields of an Assignment JSON the heartbeat needs, read without a full proto parse. */
interface AssignmentFacts {
  instanceName: string;
  spec?: { modelId?: string; pooling?: string };
  /** Where assignments stored before they carried the spec kept the model (parseAssignmentJson). */
  modelId?: string;
  replica?: number;
}

/** Handles agents' heartbeats: liveness, observed status, and the node's desired assignments. */
export interface HeartbeatHandler {
  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse>;
  /** The node's assignments and their version; undefined when the node or epoch is not current. */
  assignments(node: string, epoch: bigint): Promise<{ version: bigint; assignments: Assignment[] } | undefined>;
  /** True while the node is ready with this epoch. */
  isCurrent(node: string, epoch: bigint): Promise<boolean>;
}

/**
 * Creates the heartbeat handler. Every heartbeat is level-triggered: it carries the agent's whole
 * observed state and gets back the node's whole desired state when the version moved, so a lost
 * heartbeat costs nothing but a little latency. `enqueue` nudges the placement worker when a
 * replacement becomes ready (its predecessor can now retire).
 */
export function createHeartbeatHandler(ctx: SchedulerContext, enqueue: (instances: Iterable<string>) => Promise<void>): HeartbeatHandler {
  const { redis, keys } = ctx;
  /** Last report written per assignment, to skip identical reports (per process; safe to lose). */
  const written = new Map<string, { fingerprint: string; at: number }>();
  let beats = 0;
  const freeWritten = new Map<string, number>();

  /** Keeps the node record's free GPU memory roughly current (shown by GET /nodes). */
  async function recordFreeMemory(name: string, free: Record<number, bigint>, now: number) {
    if (Object.keys(free).length === 0 || now - (freeWritten.get(name) ?? 0) < FREE_MEMORY_WRITE_MS) return;
    freeWritten.set(name, now);
    await updateNode(ctx, name, (node) => {
      let moved = false;
      for (const gpu of node.gpus) {
        const reported = free[gpu.index];
        if (reported === undefined) continue;
        const delta = reported > gpu.memoryFreeMb ? reported - gpu.memoryFreeMb : gpu.memoryFreeMb - reported;
        if (delta > FREE_MEMORY_DELTA_MB) {
          gpu.memoryFreeMb = reported;
          moved = true;
        }
      }
      return moved ? node : undefined;
    });
  }

  /** Forgets reports of assignments that stopped reporting (removed, moved), now and then. */
  function sweep(now: number) {
    if (++beats % 1000 !== 0) return;
    for (const [id, w] of written) if (now - w.at > 10 * REWRITE_UNCHANGED_MS) written.delete(id);
  }

  async function nodeIsCurrent(name: string, epoch: bigint): Promise<boolean> {
    const json = await redis.get(keys.node(name));
    if (!json) return false;
    const node = JSON.parse(json) as { state?: string; epoch?: string };
    return node.state === "ready" && node.epoch === String(epoch);
  }

  async function readAssignments(name: string) {
    const [[, hash], [, version]] = (await redis.pipeline().hgetall(keys.assignments(name)).get(keys.assignmentsVersion(name)).exec()) as [
      [unknown, Record<string, string>],
      [unknown, string | null],
    ];
    return { hash: hash ?? {}, version: BigInt(version ?? 0) };
  }

  /**
   * Parsed assignments by their exact JSON: a node's set changes one assignment at a time, and
   * parsing every unchanged one again on each change was most of the heartbeat's CPU at scale.
   */
  const parsed = new Map<string, Assignment>();
  function toAssignments(hash: Record<string, string>): Assignment[] {
    return Object.values(hash).map((json) => {
      let a = parsed.get(json);
      if (!a) {
        if (parsed.size > 50_000) parsed.clear();
        // Core's reader: assignments stored before they carried the spec still reach agents whole.
        a = parseAssignmentJson(json);
        parsed.set(json, a);
      }
      return a;
    });
  }

  async function mergeReports(nodeName: string, reports: ReplicaStatus[], assignmentHash: Record<string, string>) {
    const byInstance = new Map<string, Array<{ report: ReplicaStatus; facts: AssignmentFacts }>>();
    for (const report of reports) {
      const json = assignmentHash[report.assignmentId];
      if (!json) continue; // not (or no longer) assigned here: the agent is about to stop it
      const facts = JSON.parse(json) as AssignmentFacts;
      const list = byInstance.get(facts.instanceName) ?? [];
      list.push({ report, facts });
      byInstance.set(facts.instanceName, list);
    }
    if (byInstance.size === 0) return;
    const instances = [...byInstance.keys()];
    const pipe = redis.pipeline();
    for (const name of instances) {
      pipe.hgetall(keys.replicas(name));
      pipe.hmget(keys.routes(), ...byInstance.get(name)!.map((x) => x.report.assignmentId));
    }
    const results = (await pipe.exec()) ?? [];
    const nudge = new Set<string>();
    const now = ctx.now();
    for (let i = 0; i < instances.length; i++) {
      const name = instances[i]!;
      const hash = (results[i * 2]?.[1] ?? {}) as Record<string, string>;
      const routes = (results[i * 2 + 1]?.[1] ?? []) as Array<string | null>;
      const entries = byInstance.get(name)!;
      for (let j = 0; j < entries.length; j++) {
        const { report, facts } = entries[j]!;
        const id = report.assignmentId;
        const json = hash[id];
        if (!json) continue;
        const record = fromJsonString(ReplicaSchema, json, { ignoreUnknownFields: true });
        if (record.node !== nodeName) continue;
        const merged = mergeReplicaStatus(record, report);
        const route =
          statusOf(merged) === "running"
            ? toJsonString(
                RouteSchema,
                create(RouteSchema, {
                  assignmentId: id,
                  instanceName: name,
                  replica: facts.replica ?? 0,
                  modelId: facts.spec?.modelId ?? facts.modelId ?? "",
                  node: nodeName,
                  address: merged.address,
                  pooling: facts.spec?.pooling ?? "",
                }),
              )
            : undefined;
        const routeOp = route !== undefined ? (routes[j] === route ? "" : "set") : routes[j] ? "del" : "";
        const mergedJson = toJsonString(ReplicaSchema, merged);
        if (mergedJson === json && routeOp === "") {
          written.set(id, { fingerprint: reportFingerprint(report), at: now });
          continue;
        }
        const kind = transitionEvent(record, merged) ?? "";
        const why = merged.reason ? `: ${merged.reason}` : "";
        // The status, the route and the event in one atomic step.
        const ok = await runScript(
          redis,
          "merge-replica",
          [keys.replicas(name), keys.routes(), keys.routesVersion(), keys.events(), keys.routesLog(), keys.routesUnready()],
          [
            id,
            json,
            mergedJson,
            routeOp,
            route ?? "",
            keys.changesChannel(),
            kind,
            name,
            nodeName,
            `replica ${merged.index} (${id}) ${merged.status}${why}`,
            String(now),
            String(EVENT_STREAM_MAXLEN),
            name,
          ],
        );
        if (ok !== 1) continue; // the scheduler changed the record meanwhile; the next heartbeat retries
        written.set(id, { fingerprint: reportFingerprint(report), at: now });
        // A replica that began failing: the reconciler decides when it moves (rescheduling).
        if (await updateFailureClock(ctx, name, record, merged, now)) nudge.add(name);
        // A replacement became ready: whatever it replaces may retire now.
        if (statusOf(merged) === "running" && statusOf(record) !== "running") {
          const others = Object.keys(hash).filter((other) => other !== id);
          if (others.length > 0) nudge.add(name);
        }
      }
    }
    if (nudge.size > 0) await enqueue(nudge);
  }

  return {
    async heartbeat(request) {
      const name = request.nodeName;
      const now = ctx.now();
      // Liveness, epoch check and the version in one round trip; ZADD XX never re-creates a
      // node that is gone from the fleet.
      const touched = await runScript(
        redis,
        "heartbeat-touch",
        [keys.node(name), keys.nodes(), keys.assignmentsVersion(name)],
        [name, String(request.epoch), String(now)],
      );
      if (touched === null || touched === undefined) return create(HeartbeatResponseSchema, { reregister: true });
      sweep(now);
      await recordFreeMemory(name, request.gpuMemoryFreeMb, now);
      const changed = request.replicas.filter((r) => {
        const last = written.get(r.assignmentId);
        return !last || last.fingerprint !== reportFingerprint(r) || now - last.at > REWRITE_UNCHANGED_MS;
      });
      let version = BigInt(String(touched));
      let hash: Record<string, string> | undefined;
      if (changed.length > 0) {
        ({ hash, version } = await readAssignments(name));
        await mergeReports(name, changed, hash);
      }
      if (version === request.knownAssignmentsVersion) {
        return create(HeartbeatResponseSchema, { assignmentsVersion: version });
      }
      if (!hash) ({ hash, version } = await readAssignments(name));
      return create(HeartbeatResponseSchema, {
        assignmentsChanged: true,
        assignmentsVersion: version,
        assignments: toAssignments(hash),
      });
    },

    isCurrent: nodeIsCurrent,

    async assignments(name, epoch) {
      if (!(await nodeIsCurrent(name, epoch))) return undefined;
      const { hash, version } = await readAssignments(name);
      return { version, assignments: toAssignments(hash) };
    },
  };
}
