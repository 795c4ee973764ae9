import { clone, create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { instanceStatusFields } from "@tei-fleet/core";
import { parseProtoSpec } from "@tei-fleet/core/spec";
import {
  EventSchema,
  type Instance,
  type InstanceHealth,
  InstanceHealthSchema,
  InstanceSchema,
  InstanceService,
  InstanceSpecSchema,
} from "@tei-fleet/proto/fleet/v1";
import type { ApiContext } from "../api/api-context.ts";
import { ApiError } from "../errors/api-error.ts";
import type { FleetEvent } from "../events/event-reader.ts";
import { readEvents } from "../events/event-reader.ts";
import { type InstanceHealthState, readFleetHealth, readInstanceHealth } from "../instances/instance-health.ts";
import { fetchInstanceLogs } from "../instances/instance-logs.ts";
import { aggregateStatus } from "../instances/instance-status.ts";
import { acceptPlanSpecs } from "../scheduler/plan.ts";
import type { StoredInstance } from "../store/instance-repository.ts";
import { strictJsonOptions } from "./strict-json-requests.ts";

/** An instance as the Connect API returns it: the record with aggregate status and replicas. */
export function toProtoInstance({ instance, replicas }: StoredInstance): Instance {
  const out = clone(InstanceSchema, instance);
  const agg = aggregateStatus(instance, replicas);
  // The enum, and for one release the word beside it that clients of the previous release read.
  Object.assign(out, instanceStatusFields(agg.status));
  out.reason = agg.reason;
  out.replicas = [...replicas];
  return out;
}

function toProtoHealth(h: InstanceHealthState): InstanceHealth {
  return create(InstanceHealthSchema, {
    instance: h.instance,
    healthy: h.healthy,
    lastCheckMs: h.lastCheckMs === null ? undefined : BigInt(h.lastCheckMs),
    consecutiveFailures: h.consecutiveFailures,
    uptimeSeconds: BigInt(h.uptimeSeconds),
    error: h.error,
  });
}

const toProtoEvent = (e: FleetEvent) =>
  create(EventSchema, { id: e.id, timeMs: BigInt(e.timeMs), kind: e.kind, instance: e.instance, node: e.node, message: e.message });

/** Same limits as REST's query parameters; 0 (proto3's "unset") means the default. */
function bounded(value: number, field: string, def: number, max: number): number {
  if (value === 0) return def;
  if (value > max) throw new ApiError("VALIDATION_ERROR", `${field} must be between 1 and ${max}`, { field });
  return value;
}

/**
 * Registers tei_fleet.v1.InstanceService: every REST operation as an RPC, over the same
 * InstanceService (validation, revisions, idempotency, events), plus `Watch`, a server stream of
 * fleet events, and `Plan`, the scheduler's dry run. Errors are mapped by the router's
 * interceptor (connect-errors.ts); JSON requests are read strictly (strict-json-requests.ts).
 */
export function registerInstanceService(router: ConnectRouter, ctx: ApiContext): void {
  const svc = ctx.instances;
  router.service(
    InstanceService,
    {
      async createInstance(req) {
        // The message itself is validated (InstanceService), with REST's rules and field names.
        const { stored } = await svc.create(req.spec ?? create(InstanceSpecSchema), {
          idempotencyKey: req.idempotencyKey === "" ? undefined : req.idempotencyKey,
        });
        return { instance: toProtoInstance(stored) };
      },
      async getInstance(req) {
        return { instance: toProtoInstance(await svc.get(req.name)) };
      },
      async listInstances() {
        return { instances: (await svc.list()).map(toProtoInstance) };
      },
      async updateInstance(req) {
        const change = req.spec ?? create(InstanceSpecSchema);
        return { instance: toProtoInstance(await svc.update(req.name, change, { expectedRevision: req.expectedRevision })) };
      },
      async deleteInstance(req) {
        await svc.delete(req.name, { expectedRevision: req.expectedRevision });
        return {};
      },
      async startInstance(req) {
        return { instance: toProtoInstance(await svc.start(req.name)) };
      },
      async stopInstance(req) {
        return { instance: toProtoInstance(await svc.stop(req.name)) };
      },
      async restartInstance(req) {
        return { instance: toProtoInstance(await svc.restart(req.name)) };
      },
      async getInstanceHealth(req) {
        return { health: toProtoHealth(readInstanceHealth(await svc.get(req.name))) };
      },
      async getFleetHealth() {
        const h = readFleetHealth(await svc.list());
        return {
          timestampMs: BigInt(h.timestampMs),
          totalInstances: h.totalInstances,
          healthyCount: h.healthyCount,
          unhealthyCount: h.unhealthyCount,
          overallStatus: h.overallStatus,
          instances: h.instances.map(toProtoHealth),
        };
      },
      async getInstanceLogs(req) {
        const tail = bounded(req.tail, "tail", 100, 10_000);
        const logs = await fetchInstanceLogs(await svc.get(req.name), tail, undefined, {
          nodes: ctx.nodes,
          agentToken: ctx.agentToken,
          timeoutMs: ctx.agentTimeoutMs,
        });
        return { lines: logs.lines };
      },
      async listEvents(req) {
        const page = await readEvents(ctx.redis, ctx.keys, req.afterEventId, bounded(req.limit, "limit", 100, 1000), "after_event_id");
        return { events: page.events.map(toProtoEvent), nextCursor: page.nextCursor };
      },
      async *watch(req, hctx) {
        for await (const e of ctx.events.watch(req.afterEventId, hctx.signal)) yield { event: toProtoEvent(e) };
      },
      async plan(req) {
        // The rules REST's POST /plan applies (acceptPlanSpecs): a refusal names `specs.i.field`.
        const specs = await acceptPlanSpecs(req.specs, "specs", parseProtoSpec, (spec) => ctx.scheduler.checkSpec(spec));
        return { replicas: await ctx.scheduler.plan(specs) };
      },
    },
    { jsonOptions: strictJsonOptions },
  );
}
