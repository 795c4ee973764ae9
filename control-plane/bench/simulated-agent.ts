import { create } from "@bufbuild/protobuf";
import { type ReplicaPhase, replicaPhaseToProto } from "@tei-fleet/core";
import {
  type Assignment,
  type HeartbeatRequest,
  HeartbeatRequestSchema,
  type HeartbeatResponse,
  type Node,
  NodeSchema,
  type RegisterResponse,
  type ReplicaStatus,
  ReplicaStatusSchema,
} from "@tei-fleet/proto/fleet/v1";

/** The part of the agent protocol a simulated agent calls (the scheduler's AgentApi, or a Connect client). */
export interface AgentEndpoint {
  register(node: Node): Promise<RegisterResponse>;
  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse>;
  leave(node: string, epoch: bigint): Promise<unknown>;
}

/** How a simulated node looks. */
export interface SimulatedNodeSpec {
  name: string;
  /** Defaults to 127.0.0.1. */
  address?: string;
  /** GPU memory per GPU, MiB; one entry per GPU. */
  gpusMb: number[];
  labels?: Record<string, string>;
  /** Most processes; 0 = no limit. */
  capacity?: number;
  portRange?: [number, number];
}

/**
 * A node agent without processes, for tests and the scale benchmark: it registers, heartbeats, and
 * reports each assignment "starting" on the first heartbeat that carries it and "running" from the
 * next one on (or at once with `instantReady`). Like the real agent it follows `reregister` and
 * forgets assignments the control plane no longer sends.
 */
export class SimulatedAgent {
  readonly spec: SimulatedNodeSpec;
  epoch = 0n;
  knownVersion = 0n;
  readonly assignments = new Map<string, Assignment>();
  /** Assignments reported starting once already. */
  private readonly seen = new Set<string>();
  /** Status overrides per assignment id (e.g. "unhealthy"), for tests. */
  readonly overrides = new Map<string, ReplicaPhase>();
  private readonly endpoint: AgentEndpoint;
  private readonly instantReady: boolean;
  /** Report messages by assignment and status, reused while nothing changes (cheap heartbeats at scale). */
  private readonly reports = new Map<string, ReplicaStatus>();
  /** Set when the agent stops heartbeating (a simulated crash or network partition). */
  silent = false;

  constructor(endpoint: AgentEndpoint, spec: SimulatedNodeSpec, options: { instantReady?: boolean } = {}) {
    this.endpoint = endpoint;
    this.spec = spec;
    this.instantReady = options.instantReady ?? false;
  }

  node(): Node {
    const s = this.spec;
    return create(NodeSchema, {
      name: s.name,
      address: s.address ?? "127.0.0.1",
      agentUrl: `http://${s.address ?? "127.0.0.1"}:9100`,
      labels: s.labels ?? {},
      gpus: s.gpusMb.map((mb, index) => ({
        index,
        uuid: `GPU-${s.name}-${index}`,
        name: "Simulated H100",
        memoryTotalMb: BigInt(mb),
        memoryFreeMb: BigInt(mb),
      })),
      agentVersion: "sim-0.1.0",
      capacity: s.capacity ?? 0,
      portRangeStart: s.portRange?.[0] ?? 0,
      portRangeEnd: s.portRange?.[1] ?? 0,
    });
  }

  async register(): Promise<void> {
    const response = await this.endpoint.register(this.node());
    this.epoch = response.epoch;
  }

  /** One heartbeat; returns the response (after following a re-register request). */
  async heartbeat(): Promise<HeartbeatResponse | undefined> {
    if (this.silent) return undefined;
    const replicas = [...this.assignments.values()].map((a) => {
      const first = !this.seen.has(a.assignmentId);
      this.seen.add(a.assignmentId);
      const status: ReplicaPhase = this.overrides.get(a.assignmentId) ?? (first && !this.instantReady ? "starting" : "running");
      const key = `${a.assignmentId}/${status}`;
      let report = this.reports.get(key);
      if (!report) {
        report = create(ReplicaStatusSchema, {
          assignmentId: a.assignmentId,
          status: replicaPhaseToProto(status),
          pid: 1000,
          startedAtMs: 1n,
          modelType: status === "running" ? "embedding" : "",
          dimension: status === "running" ? 384 : undefined,
        });
        this.reports.set(key, report);
      }
      return report;
    });
    const response = await this.endpoint.heartbeat(
      create(HeartbeatRequestSchema, {
        nodeName: this.spec.name,
        epoch: this.epoch,
        replicas,
        knownAssignmentsVersion: this.knownVersion,
      }),
    );
    if (response.reregister) {
      // Like a real agent after a partition: register again and take whatever is assigned now.
      await this.register();
      this.knownVersion = 0n;
      return response;
    }
    if (response.assignmentsChanged) this.apply(response.assignmentsVersion, response.assignments);
    return response;
  }

  /** Takes a full assignment set (from a heartbeat or a watch). */
  apply(version: bigint, assignments: Assignment[]): void {
    this.knownVersion = version;
    const ids = new Set(assignments.map((a) => a.assignmentId));
    for (const id of [...this.assignments.keys()]) {
      if (!ids.has(id)) {
        this.assignments.delete(id);
        this.seen.delete(id);
      }
    }
    for (const key of [...this.reports.keys()]) if (!ids.has(key.slice(0, key.lastIndexOf("/")))) this.reports.delete(key);
    for (const a of assignments) this.assignments.set(a.assignmentId, a);
  }

  async leave(): Promise<void> {
    await this.endpoint.leave(this.spec.name, this.epoch);
    this.silent = true;
  }
}
