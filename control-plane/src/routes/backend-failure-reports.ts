import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { type ReplicaPhase, statusOf } from "@tei-fleet/core";
import { ReplicaSchema, RouteSchema } from "@tei-fleet/proto/fleet/v1";
import { EVENT_STREAM_MAXLEN } from "../store/event-log.ts";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";

/** Options of the failure reports. */
export interface FailureReportOptions {
  /** Distinct routers whose reports take a replica out of the table. Default 2. */
  ejectionQuorum?: number;
  /** How long a report counts. Default 60 000 ms. */
  ejectionReportWindowMs?: number;
}

/** What became of a router's failure report. */
export interface FailureReportOutcome {
  /** The replica is out of the table (the quorum was reached, or it was not routed anyway). */
  removed: boolean;
  /** Distinct routers that reported it within the window, this one included. */
  reports: number;
}

/**
 * A router ejected a backend (RouteService.ReportBackendFailure). Once `ejectionQuorum` distinct
 * routers have within the window, the replica is marked unhealthy and leaves the table until its
 * agent reports it running again; one router alone ejects it only for itself.
 */
export type ReportBackendFailure = (assignmentId: string, reason: string, routerId: string) => Promise<FailureReportOutcome>;

/** Creates the report handler. */
export function createBackendFailureReports(ctx: SchedulerContext, options: FailureReportOptions = {}): ReportBackendFailure {
  const { redis, keys } = ctx;
  const quorum = options.ejectionQuorum ?? 2;
  const reportWindowMs = options.ejectionReportWindowMs ?? 60_000;

  /** Records the report and counts the distinct routers that made one within the window. */
  async function countReports(assignmentId: string, routerId: string): Promise<number> {
    const key = keys.ejectionReports(assignmentId);
    const now = ctx.now();
    const result = await redis
      .multi()
      .zadd(key, now, routerId)
      .zremrangebyscore(key, "-inf", now - reportWindowMs)
      .zcard(key)
      .pexpire(key, reportWindowMs)
      .exec();
    return Number(result?.[2]?.[1] ?? 1);
  }

  return async (assignmentId, reason, routerId) => {
    const json = await redis.hget(keys.routes(), assignmentId);
    if (!json) return { removed: true, reports: 0 };
    const reports = await countReports(assignmentId, routerId);
    if (reports < quorum) {
      ctx.logger.info({ assignmentId, routerId, reason, reports, quorum }, "router reported a failing backend; waiting for a quorum of routers");
      return { removed: false, reports };
    }
    const route = fromJsonString(RouteSchema, json, { ignoreUnknownFields: true });
    const record = await redis.hget(keys.replicas(route.instanceName), assignmentId);
    if (!record) return { removed: true, reports };
    const replica = fromJsonString(ReplicaSchema, record, { ignoreUnknownFields: true });
    if (statusOf(replica) !== "running") return { removed: true, reports };
    const marked = create(ReplicaSchema, {
      ...replica,
      status: "unhealthy" satisfies ReplicaPhase,
      reason: `${reports} routers reported failures: ${reason}`.slice(0, 500),
    });
    await runScript(
      redis,
      "merge-replica",
      [keys.replicas(route.instanceName), keys.routes(), keys.routesVersion(), keys.events(), keys.routesLog(), keys.routesUnready()],
      [
        assignmentId,
        record,
        toJsonString(ReplicaSchema, marked),
        "del",
        "",
        keys.changesChannel(),
        "instance.unhealthy",
        route.instanceName,
        route.node,
        `replica ${replica.index} (${assignmentId}) ${marked.reason}`,
        String(ctx.now()),
        String(EVENT_STREAM_MAXLEN),
        route.instanceName,
      ],
    );
    await redis.del(keys.ejectionReports(assignmentId));
    ctx.logger.warn({ assignmentId, instance: route.instanceName, reason, reports }, "routers reported a failing backend; removed from the route table");
    return { removed: true, reports };
  };
}
