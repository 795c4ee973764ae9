import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
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
import { StaleEpochError } from "../agents/assignment-feed.ts";
import { NodeInUseError, NodeNotFoundError } from "../nodes/node-errors.ts";
import type { Scheduler } from "../scheduler/index.ts";
import { toConnectError as catalogueError } from "./connect-errors.ts";

/**
 * Turns the scheduler's own errors into Connect codes. Anything else is thrown on unchanged: the
 * server's error interceptor maps it (Redis unavailable → UNAVAILABLE, the rest → INTERNAL, its
 * cause logged and never sent).
 */
function toConnectError(err: unknown): unknown {
  if (err instanceof NodeNotFoundError) return new ConnectError(err.message, Code.NotFound);
  if (err instanceof StaleEpochError) return new ConnectError(err.message, Code.FailedPrecondition);
  // The catalogue's NODE_IN_USE (FAILED_PRECONDITION with x-error-code), as REST's 409.
  if (err instanceof NodeInUseError) return catalogueError(err);
  return err;
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnectError(err);
  }
}

/**
 * Refuses a node name outside @tei-fleet/core's rule, the one the agent checks at start-up and a
 * spec's `node` is held to: a node that registers can always be pinned.
 */
function requireNodeName(name: string): void {
  if (!isNodeName(name)) {
    throw new ConnectError(`node name ${JSON.stringify(name)} is invalid: ${NODE_NAME_RULE}`, Code.InvalidArgument);
  }
}

/**
 * AgentService for node agents (the server authenticates them with the join token):
 * Register, Heartbeat, WatchAssignments, Leave.
 */
export function registerAgentService(router: ConnectRouter, scheduler: Scheduler): void {
  router.service(AgentService, {
    async register(req) {
      const node = req.node;
      if (!node) throw new ConnectError("node is required", Code.InvalidArgument);
      requireNodeName(node.name);
      if (!node.address) throw new ConnectError("node.address is required", Code.InvalidArgument);
      if (node.portRangeStart > node.portRangeEnd) {
        throw new ConnectError(`node.port_range_start ${node.portRangeStart} is above port_range_end ${node.portRangeEnd}`, Code.InvalidArgument);
      }
      const indexes = new Set(node.gpus.map((g) => g.index));
      if (indexes.size !== node.gpus.length) throw new ConnectError("node.gpus has duplicate indexes", Code.InvalidArgument);
      return guard(() => scheduler.agents.register(node));
    },
    async heartbeat(req) {
      requireNodeName(req.nodeName);
      return guard(() => scheduler.agents.heartbeat(req));
    },
    async *watchAssignments(req, ctx) {
      requireNodeName(req.nodeName);
      try {
        for await (const update of scheduler.agents.watchAssignments(req.nodeName, req.epoch, ctx.signal)) {
          yield create(WatchAssignmentsResponseSchema, { assignmentsVersion: update.version, assignments: update.assignments });
        }
      } catch (err) {
        if (ctx.signal.aborted) return;
        throw toConnectError(err);
      }
    },
    async leave(req) {
      requireNodeName(req.nodeName);
      const done = await guard(() => scheduler.agents.leave(req.nodeName, req.epoch));
      if (!done) throw new ConnectError(`node ${req.nodeName} is not registered with epoch ${req.epoch}`, Code.FailedPrecondition);
      return create(LeaveResponseSchema);
    },
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
        if (ctx.signal.aborted) return;
        throw toConnectError(err);
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
        if (ctx.signal.aborted) return;
        throw toConnectError(err);
      }
    },
    async reportBackendFailure(req) {
      if (!req.assignmentId) throw new ConnectError("assignment_id is required", Code.InvalidArgument);
      // A router that does not name itself (an older one) counts as one unnamed reporter.
      await guard(() => scheduler.routes.reportBackendFailure(req.assignmentId, req.reason, req.routerId || "unnamed-router"));
      return create(ReportBackendFailureResponseSchema);
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
