import { create } from "@bufbuild/protobuf";
import type { SpecResult } from "@tei-fleet/core/spec";
import { type InstanceSpec, type PlannedReplica, PlannedReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import { ApiError } from "../errors/api-error.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import type { SpecCheck } from "./check-spec.ts";
import { type NodeView, nodeViewFromRedis } from "./node-view.ts";
import { place } from "./placement.ts";
import { replicaCount, replicaRequest, wantsRunning } from "./placement-request.ts";

/**
 * The specs of a plan request, each held to the rules a create is held to, on either surface:
 * `parse` is @tei-fleet/core's (parseInstanceSpec for REST JSON, parseProtoSpec for Connect's
 * messages: the same checks, across fields too), then the scheduler's `check` (what can never be
 * placed). A refusal names the spec within the request's list, `list.index.field`
 * (`instances.2.extra_args` over REST, `specs.2.extra_args` over Connect), with core's code and
 * message.
 */
export async function acceptPlanSpecs<T>(
  inputs: readonly T[],
  list: string,
  parse: (input: T) => SpecResult<InstanceSpec>,
  check: (spec: InstanceSpec) => Promise<SpecCheck>,
): Promise<InstanceSpec[]> {
  const specs = inputs.map((input, i) => {
    const result = parse(input);
    if (result.ok) return result.value;
    const { code, message, field } = result.problem;
    throw new ApiError(code, message, { field: field === undefined ? `${list}.${i}` : `${list}.${i}.${field}` });
  });
  for (const [i, spec] of specs.entries()) {
    const verdict = await check(spec);
    if (!verdict.ok) throw new ApiError("VALIDATION_ERROR", verdict.reason, { field: `${list}.${i}.${verdict.field}` });
  }
  return specs;
}

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
    const count = wantsRunning(spec) ? replicaCount(spec) : 0;
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
