import { fromJsonString } from "@bufbuild/protobuf";
import { InstanceSchema } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import { memoryPerGpuMb } from "../src/scheduler/placement-request.ts";
import type { KeySchema } from "../src/store/keys.ts";

/** What an audit of the final state found. */
export interface AuditReport {
  nodes: number;
  assignments: number;
  /** GPUs whose assignments together need more memory than the GPU has. */
  doubleBookedGpus: number;
  /** (node, port) pairs given to more than one assignment. */
  doubleBookedPorts: number;
  /** Claims that disagree with the assignments they should account for. */
  claimMismatches: number;
  /** Up to 20 examples of what went wrong. */
  examples: string[];
}

interface AssignmentJson {
  instanceName: string;
  gpuIds?: number[];
  port?: number;
  prometheusPort?: number;
}

/**
 * Audits the fleet from the assignments outward, not from the claims: the memory each instance
 * spec asks for, summed per GPU, against the GPU's size; every port against every other port on
 * the same node. Independent of the claim bookkeeping, so a bug there cannot hide itself.
 */
export async function auditFleet(redis: Redis, keys: KeySchema): Promise<AuditReport> {
  const names = await redis.zrange(keys.nodes(), 0, -1);
  const report: AuditReport = { nodes: names.length, assignments: 0, doubleBookedGpus: 0, doubleBookedPorts: 0, claimMismatches: 0, examples: [] };
  const note = (s: string) => {
    if (report.examples.length < 20) report.examples.push(s);
  };
  const specMemory = new Map<string, number>();

  for (let i = 0; i < names.length; i += 200) {
    const chunk = names.slice(i, i + 200);
    const pipe = redis.pipeline();
    for (const n of chunk) {
      pipe.get(keys.node(n));
      pipe.hgetall(keys.assignments(n));
      pipe.hgetall(keys.nodeClaims(n));
    }
    const results = (await pipe.exec()) ?? [];
    const perNode = chunk.map((name, j) => ({
      name,
      node: JSON.parse((results[j * 3]?.[1] as string | null) ?? "{}") as { gpus?: Array<{ index?: number; memoryTotalMb?: string }> },
      assignments: Object.values((results[j * 3 + 1]?.[1] ?? {}) as Record<string, string>).map((a) => JSON.parse(a) as AssignmentJson),
      claims: (results[j * 3 + 2]?.[1] ?? {}) as Record<string, string>,
    }));

    const missing = [...new Set(perNode.flatMap((n) => n.assignments.map((a) => a.instanceName)))].filter((x) => !specMemory.has(x));
    if (missing.length > 0) {
      const specs = await redis.mget(missing.map((m) => keys.instance(m)));
      missing.forEach((m, k) => {
        const json = specs[k];
        const spec = json ? fromJsonString(InstanceSchema, json, { ignoreUnknownFields: true }).spec : undefined;
        specMemory.set(m, spec ? ((spec.gpuCount ?? 1) === 0 && spec.gpuId === undefined ? 0 : memoryPerGpuMb(spec)) : NaN);
      });
    }

    for (const { name, node, assignments, claims } of perNode) {
      report.assignments += assignments.length;
      const used = new Map<number, number>();
      const ports = new Map<number, number>();
      for (const a of assignments) {
        const mb = specMemory.get(a.instanceName) ?? NaN;
        for (const g of a.gpuIds ?? []) used.set(g, (used.get(g) ?? 0) + (Number.isNaN(mb) ? 0 : mb));
        for (const p of [a.port ?? 0, a.prometheusPort ?? 0]) ports.set(p, (ports.get(p) ?? 0) + 1);
      }
      for (const [gpu, mb] of used) {
        const total = Number(node.gpus?.find((g) => (g.index ?? 0) === gpu)?.memoryTotalMb ?? 0);
        if (mb > total) {
          report.doubleBookedGpus++;
          note(`${name} GPU ${gpu}: ${mb} MiB assigned of ${total}`);
        }
        if (Number(claims[`gpu:${gpu}`] ?? 0) !== mb) {
          report.claimMismatches++;
          note(`${name} GPU ${gpu}: claims ${claims[`gpu:${gpu}`]} vs ${mb}`);
        }
      }
      for (const [port, count] of ports) {
        if (count > 1) {
          report.doubleBookedPorts++;
          note(`${name} port ${port} given ${count} times`);
        }
      }
      if (Number(claims.count ?? 0) !== assignments.length) {
        report.claimMismatches++;
        note(`${name}: claims count ${claims.count} vs ${assignments.length} assignments`);
      }
    }
  }
  return report;
}
