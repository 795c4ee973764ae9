import { create } from "@bufbuild/protobuf";
import type { ConnectError, ConnectRouter } from "@connectrpc/connect";
import { isNodeName, NODE_NAME_RULE } from "@tei-fleet/core";
import {
  AgentService,
  CordonNodeResponseSchema,
  DeleteNodeResponseSchema,
  DrainNodeResponseSchema,
  GetNodeResponseSchema,
  GetRoutesResponseSchema,
  LeaveResponseSchema,
  ListNodesResponseSchema,
  NodeService,
  ReportBackendFailureResponseSchema,
  RouteService,
  UncordonNodeResponseSchema,
  WatchAssignmentsResponseSchema,
  WatchRouteChangesResponseSchema,
  WatchRoutesResponseSchema,
} from "@tei-fleet/proto/fleet/v1";
import { ApiError } from "../errors/api-error.ts";
import type { Scheduler } from "../scheduler/index.ts";
import { toConnectError } from "./connect-errors.ts";

/**
 * Runs a unary handler's body and maps what it throws with {@link toConnectError}, the mapping
 * the server's interceptor applies to every service: the same answer whether these services are
 * served by the control plane or on a bare router (tests, embedding), and no second mapping.
 */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnectError(err);
  }
}

/** The same for a stream: a call the client cancelled ends quietly; any other failure is mapped. */
function streamFailure(err: unknown, signal: AbortSignal): ConnectError | undefined {
  if (signal.aborted) return undefined;
  return toConnectError(err);
}

/**
 * Refuses a node name outside @tei-fleet/core's rule, the one the agent checks at start-up and a
 * spec's `node` is held to: a node that registers can always be pinned.
 */
function requireNodeName(name: string, field: string): void {
  if (!isNodeName(name)) throw new ApiError("VALIDATION_ERROR", `node name ${JSON.stringify(name)} is invalid: ${NODE_NAME_RULE}`, { field });
}

/**
 * AgentService for node agents (the server authenticates them with the join token):
 * Register, Heartbeat, WatchAssignments, Leave.
 */
export function registerAgentService(router: ConnectRouter, scheduler: Scheduler): void {
  router.service(AgentService, {
    register: (req) =>
      guard(() => {
        const node = req.node;
        if (!node) throw new ApiError("MISSING_FIELD", "node is required", { field: "node" });
        requireNodeName(node.name, "node.name");
        if (!node.address) throw new ApiError("MISSING_FIELD", "node.address is required", { field: "node.address" });
        if (node.portRangeStart > node.portRangeEnd) {
          throw new ApiError("VALIDATION_ERROR", `node.port_range_start ${node.portRangeStart} is above port_range_end ${node.portRangeEnd}`, {
            field: "node.port_range_start",
          });
        }
        const indexes = new Set(node.gpus.map((g) => g.index));
        if (indexes.size !== node.gpus.length) throw new ApiError("VALIDATION_ERROR", "node.gpus has duplicate indexes", { field: "node.gpus" });
        return scheduler.agents.register(node);
      }),
    heartbeat: (req) =>
      guard(() => {
        requireNodeName(req.nodeName, "node_name");
        return scheduler.agents.heartbeat(req);
      }),
    async *watchAssignments(req, ctx) {
      try {
        requireNodeName(req.nodeName, "node_name");
        for await (const update of scheduler.agents.watchAssignments(req.nodeName, req.epoch, ctx.signal)) {
          yield create(WatchAssignmentsResponseSchema, { assignmentsVersion: update.version, assignments: update.assignments });
        }
      } catch (err) {
        const failure = streamFailure(err, ctx.signal);
        if (failure) throw failure;
      }
    },
    leave: (req) =>
      guard(async () => {
        requireNodeName(req.nodeName, "node_name");
        const done = await scheduler.agents.leave(req.nodeName, req.epoch);
        if (!done) throw new ApiError("STALE_EPOCH", `node ${req.nodeName} is not registered with epoch ${req.epoch}`, { field: "epoch" });
        return create(LeaveResponseSchema);
      }),
  });
}

/**
 * RouteService for routers (join token): GetRoutes, WatchRoutes (whole tables, for older
 * routers), WatchRouteChanges (the watch protocol: only what changed), ReportBackendFailure.
 */
export function registerRouteService(router: ConnectRouter, scheduler: Scheduler): void {
  router.service(RouteService, {
    async getRoutes() {
      return create(GetRoutesResponseSchema, await guard(() => scheduler.routes.getWithEpoch()));
    },
    async *watchRoutes(req, ctx) {
      try {
        for await (const table of scheduler.routes.watch(req.knownVersion, ctx.signal)) {
          yield create(WatchRoutesResponseSchema, { table });
        }
      } catch (err) {
        const failure = streamFailure(err, ctx.signal);
        if (failure) throw failure;
      }
    },
    async *watchRouteChanges(req, ctx) {
      // No position, or one without an epoch: the router has nothing, so it starts with a snapshot.
      const position = req.position?.epoch ? { epoch: req.position.epoch, version: req.position.version } : undefined;
      try {
        for await (const event of scheduler.routes.watchChanges(position, ctx.signal)) {
          yield create(WatchRouteChangesResponseSchema, { event });
        }
      } catch (err) {
        const failure = streamFailure(err, ctx.signal);
        if (failure) throw failure;
      }
    },
    async reportBackendFailure(req) {
      return guard(async () => {
        if (!req.assignmentId) throw new ApiError("MISSING_FIELD", "assignment_id is required", { field: "assignment_id" });
        // A router that does not name itself (an older one) counts as one unnamed reporter.
        await scheduler.routes.reportBackendFailure(req.assignmentId, req.reason, req.routerId || "unnamed-router");
        return create(ReportBackendFailureResponseSchema);
      });
    },
  });
}

/** NodeService for operators (admin token to change, read token to look): list, get, cordon, uncordon, drain, delete. */
export function registerNodeService(router: ConnectRouter, scheduler: Scheduler): void {
  router.service(NodeService, {
    async listNodes() {
      return create(ListNodesResponseSchema, { nodes: await guard(() => scheduler.nodes.list()) });
    },
    async getNode(req) {
      return create(GetNodeResponseSchema, { node: await guard(() => scheduler.nodes.get(req.name)) });
    },
    async cordonNode(req) {
      return create(CordonNodeResponseSchema, { node: await guard(() => scheduler.nodes.cordon(req.name)) });
    },
    async uncordonNode(req) {
      return create(UncordonNodeResponseSchema, { node: await guard(() => scheduler.nodes.uncordon(req.name)) });
    },
    async drainNode(req) {
      return create(DrainNodeResponseSchema, {
        node: await guard(() => scheduler.nodes.drain(req.name, { maxParallel: req.maxParallel, deadlineSecs: req.deadlineSecs })),
      });
    },
    async deleteNode(req) {
      await guard(() => scheduler.nodes.delete(req.name));
      return create(DeleteNodeResponseSchema);
    },
  });
}
