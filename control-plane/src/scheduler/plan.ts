import { create } from "@bufbuild/protobuf";
import { type InstanceSpec, type PlannedReplica, PlannedReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { type NodeView, nodeViewFromRedis } from "./node-view.ts";
import { place } from "./placement.ts";
import { replicaCount, replicaRequest } from "./placement-request.ts";

/**
 * Dry run (Nomad's `job plan`): where these specs would go on the fleet as it is now, and why
 * what does not fit does not. Changes nothing. Specs are planned in order and see each other's
 * planned claims; an existing instance of the same name is planned as if it were new.
 */
export async function planPlacements(ctx: SchedulerContext, specs: InstanceSpec[]): Promise<PlannedReplica[]> {
  const views = await loadAllNodes(ctx);
  const planned: PlannedReplica[] = [];
  for (const spec of specs) {
    const peers: Array<{ node: string; gpuIds: number[] }> = [];
    const count = (spec.desiredState ?? "running") === "stopped" ? 0 : replicaCount(spec);
    for (let index = 0; index < count; index++) {
      const request = replicaRequest(spec, index, peers);
      const decision = place(request, views);
      if (!decision.fits) {
        planned.push(create(PlannedReplicaSchema, { instance: spec.name, index, fits: false, reason: decision.reason }));
        continue;
      }
      const { node, gpuIds } = decision;
      for (const id of gpuIds) {
        const gpu = node.gpus.find((g) => g.index === id);
        if (gpu) gpu.usedMb += request.memoryMb;
      }
      node.ports.add(decision.port).add(decision.prometheusPort);
      node.count++;
      peers.push({ node: node.name, gpuIds });
      planned.push(create(PlannedReplicaSchema, { instance: spec.name, index, fits: true, node: node.name, gpuIds }));
    }
  }
  return planned;
}

/** A fresh snapshot of every node with its claims (private copies: planning mutates them). */
export async function loadAllNodes(ctx: SchedulerContext): Promise<NodeView[]> {
  const names = await ctx.redis.zrange(ctx.keys.nodes(), 0, -1);
  const views: NodeView[] = [];
  for (let i = 0; i < names.length; i += 500) {
    const chunk = names.slice(i, i + 500);
    const pipe = ctx.redis.pipeline();
    for (const n of chunk) {
      pipe.get(ctx.keys.node(n));
      pipe.hgetall(ctx.keys.nodeClaims(n));
    }
    const results = (await pipe.exec()) ?? [];
    chunk.forEach((_, j) => {
      const json = results[j * 2]?.[1] as string | null;
      if (json) views.push(nodeViewFromRedis(json, (results[j * 2 + 1]?.[1] ?? {}) as Record<string, string>));
    });
  }
  return views;
}
