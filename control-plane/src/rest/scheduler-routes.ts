import { parseInstanceSpec } from "@tei-fleet/core/spec";
import type { Node, PlannedReplica } from "@tei-fleet/proto/fleet/v1";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { CreateInstanceBody, throwValidationError } from "../instances/instance-spec.ts";
import { DRAIN_DEFAULTS } from "../nodes/node-operations.ts";
import type { Scheduler } from "../scheduler/index.ts";
import { acceptPlanSpecs } from "../scheduler/plan.ts";
import { errorResponses, jsonSchema } from "./schemas.ts";

const GpuView = z.object({
  index: z.number(),
  uuid: z.string(),
  name: z.string(),
  memory_total_mb: z.number(),
  memory_free_mb: z.number(),
  memory_allocated_mb: z.number().describe("Claimed by instances placed on this GPU"),
});

/** A node as REST shows it: snake_case, numbers as numbers. */
export const NodeView = z.object({
  name: z.string(),
  address: z.string().describe("Address TEI instances on this node bind and routers dial"),
  agent_url: z.string(),
  labels: z.record(z.string(), z.string()),
  gpus: z.array(GpuView),
  agent_version: z.string(),
  capacity: z.number().describe("Most TEI processes the node runs; 0 = no limit"),
  state: z.enum(["ready", "lost", "left"]),
  cordoned: z.boolean(),
  draining: z.boolean(),
  last_heartbeat_ms: z.number(),
  epoch: z.number(),
  instance_count: z.number(),
  joined_at_ms: z.number(),
  port_range_start: z.number(),
  port_range_end: z.number(),
});

const NodeList = z.object({ nodes: z.array(NodeView) });
const NameParams = z.object({ name: z.string().describe("Node name") });
const DrainBody = z
  .strictObject({
    max_parallel: z.int().min(1).max(1000).optional().describe(`Replicas moved at once (default ${DRAIN_DEFAULTS.maxParallel})`),
    deadline_secs: z
      .int()
      .min(1)
      .max(7 * 86_400)
      .optional()
      .describe(`Stop what is left after this long (default ${DRAIN_DEFAULTS.deadlineSecs})`),
  })
  .nullish();
const PlanBody = z.strictObject({ instances: z.array(z.unknown()).max(1000) });
const PlannedView = z.object({
  instance: z.string(),
  index: z.number(),
  fits: z.boolean(),
  node: z.string(),
  gpu_ids: z.array(z.number()),
  reason: z.string().describe("Why it does not fit, e.g. insufficient GPU memory on 0/12 eligible nodes"),
});
const PlanView = z.object({ replicas: z.array(PlannedView) });

/** Renders a node for REST. */
export function nodeJson(node: Node): z.infer<typeof NodeView> {
  return {
    name: node.name,
    address: node.address,
    agent_url: node.agentUrl,
    labels: { ...node.labels },
    gpus: node.gpus.map((g) => ({
      index: g.index,
      uuid: g.uuid,
      name: g.name,
      memory_total_mb: Number(g.memoryTotalMb),
      memory_free_mb: Number(g.memoryFreeMb),
      memory_allocated_mb: Number(g.memoryAllocatedMb),
    })),
    agent_version: node.agentVersion,
    capacity: node.capacity,
    state: (node.state || "ready") as "ready" | "lost" | "left",
    cordoned: node.cordoned,
    draining: node.draining,
    last_heartbeat_ms: Number(node.lastHeartbeatMs),
    epoch: Number(node.epoch),
    instance_count: node.instanceCount,
    joined_at_ms: Number(node.joinedAtMs),
    port_range_start: node.portRangeStart,
    port_range_end: node.portRangeEnd,
  };
}

function plannedJson(p: PlannedReplica): z.infer<typeof PlannedView> {
  return { instance: p.instance, index: p.index, fits: p.fits, node: p.node, gpu_ids: [...p.gpuIds], reason: p.reason };
}

/**
 * The scheduler's REST routes, registered inside the API's REST context (its auth, JSON parser
 * and error handler apply): node inventory and operator actions, and the placement dry run.
 */
export async function schedulerRestPlugin(app: FastifyInstance, opts: { scheduler: Scheduler }): Promise<void> {
  const { scheduler } = opts;
  const nodeResponse = { 200: jsonSchema(NodeView), ...errorResponses(401, 403, 404) };

  app.get(
    "/nodes",
    {
      schema: {
        tags: ["nodes"],
        summary: "Every node: inventory, labels, state, claimed GPU memory",
        response: { 200: jsonSchema(NodeList), ...errorResponses(401, 403) },
      },
    },
    async () => ({ nodes: (await scheduler.nodes.list()).map(nodeJson) }),
  );

  app.get<{ Params: { name: string } }>(
    "/nodes/:name",
    {
      schema: { tags: ["nodes"], summary: "One node", params: jsonSchema(NameParams, "input"), response: nodeResponse },
    },
    async (request) => nodeJson(await scheduler.nodes.get(request.params.name)),
  );

  app.post<{ Params: { name: string } }>(
    "/nodes/:name/cordon",
    {
      schema: {
        tags: ["nodes"],
        summary: "Cordon: no new instances go to the node; running ones stay",
        params: jsonSchema(NameParams, "input"),
        response: nodeResponse,
      },
    },
    async (request) => nodeJson(await scheduler.nodes.cordon(request.params.name)),
  );

  app.post<{ Params: { name: string } }>(
    "/nodes/:name/uncordon",
    {
      schema: { tags: ["nodes"], summary: "Uncordon (also cancels a drain in progress)", params: jsonSchema(NameParams, "input"), response: nodeResponse },
    },
    async (request) => nodeJson(await scheduler.nodes.uncordon(request.params.name)),
  );

  app.post<{ Params: { name: string } }>(
    "/nodes/:name/drain",
    {
      schema: {
        tags: ["nodes"],
        summary: "Drain: move every instance elsewhere, max_parallel at a time",
        description:
          "Cordons the node, then moves its replicas max_parallel at a time: each replacement starts elsewhere and must report running before the original leaves the route table and stops. When deadline_secs passes, whatever is left stops at once. The node stays cordoned afterwards.",
        params: jsonSchema(NameParams, "input"),
        body: jsonSchema(z.object(DrainBody.unwrap().unwrap().shape), "input"),
        response: { 200: jsonSchema(NodeView), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const body = DrainBody.safeParse(request.body);
      if (!body.success) throwValidationError(body.error, "drain request");
      return nodeJson(
        await scheduler.nodes.drain(request.params.name, {
          maxParallel: body.data?.max_parallel,
          deadlineSecs: body.data?.deadline_secs,
        }),
      );
    },
  );

  app.delete<{ Params: { name: string } }>(
    "/nodes/:name",
    {
      schema: {
        tags: ["nodes"],
        summary: "Forget a node nothing runs on",
        description:
          "Removes a node that is lost or left, or cordoned/drained with no assignments left, with its claims and bookkeeping. Anything else is 409 NODE_IN_USE naming why (drain it first). If its agent heartbeats again later, it registers as a new node.",
        params: jsonSchema(NameParams, "input"),
        response: { 204: { type: "null", description: "Deleted" }, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await scheduler.nodes.delete(request.params.name);
      return reply.code(204).send();
    },
  );

  app.post(
    "/plan",
    {
      schema: {
        tags: ["nodes"],
        summary: "Dry run: where these instances would go, and what does not fit",
        description:
          "Takes instance specs in the POST /instances shape and answers, per replica, the node and GPUs it would get or why it fits nowhere. Changes nothing.",
        body: jsonSchema(z.object({ instances: z.array(CreateInstanceBody) }), "input"),
        response: { 200: jsonSchema(PlanView), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const body = PlanBody.safeParse(request.body);
      if (!body.success) throwValidationError(body.error, "plan request");
      // Core's rules, the ones POST /instances and Connect's Plan apply (cross-field ones too).
      const specs = await acceptPlanSpecs(body.data.instances, "instances", parseInstanceSpec, (spec) => scheduler.checkSpec(spec));
      return { replicas: (await scheduler.plan(specs)).map(plannedJson) };
    },
  );
}

export default schedulerRestPlugin;
