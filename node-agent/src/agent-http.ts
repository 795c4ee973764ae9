import { createHash, timingSafeEqual } from "node:crypto";
import { bracketHost } from "@tei-fleet/core";
import { addHealthRoutes, type CheckResult, healthEndpoints } from "@tei-fleet/core/service";
import Fastify, { LogController } from "fastify";
import type { Logger } from "pino";
import type { AssignmentReconciler } from "./assignment-reconciler.ts";
import type { AgentMetrics } from "./metrics.ts";

/**
 * The agent's own HTTP/1.1 API. The control plane proxies `GET /instances/:name/logs` here (using
 * Node.agent_url); Prometheus scrapes `/metrics`; `/healthz` says the agent process is alive and
 * `/readyz` that it has started (and is not shutting down). The three probe routes are the
 * service kit's, so they answer as on every other service.
 */

/** Options of {@link createAgentHttp}. */
export interface AgentHttpOptions {
  reconciler: AssignmentReconciler;
  metrics: AgentMetrics;
  logger: Logger;
  /** Node address, for listing each TEI's Prometheus target. */
  advertiseAddress: string;
  /** Extra fields for /healthz (node name, control plane reachability). */
  health?: () => Record<string, unknown>;
  /** Readiness for /readyz. Default: ready. */
  ready?: () => CheckResult;
  /**
   * When set, `/instances*` requires `authorization: Bearer <token>` (the join token, which the
   * control plane sends when it proxies logs): TEI's logs can hold request inputs. `/healthz`,
   * `/readyz` and `/metrics` stay open for probes and Prometheus.
   */
  token?: string;
}

const DEFAULT_TAIL = 100;
const MAX_TAIL = 10_000;

/** Builds (does not start) the Fastify app. */
export function createAgentHttp(options: AgentHttpOptions) {
  const app = Fastify({
    loggerInstance: options.logger.child({ component: "http" }),
    // Scrapes and proxied log reads are frequent; per-request logs would drown the agent's own.
    logController: new LogController({ disableRequestLogging: true }),
    // Keep-alive connections (Prometheus, the control plane's proxy) must not hold up shutdown.
    forceCloseConnections: true,
  });
  const { reconciler } = options;
  const host = bracketHost(options.advertiseAddress);

  if (options.token) {
    const expected = digest(`Bearer ${options.token}`);
    app.addHook("onRequest", async (req, reply) => {
      if (!req.url.startsWith("/instances")) return;
      const given = req.headers.authorization;
      if (given === undefined || !timingSafeEqual(digest(given), expected)) {
        return reply.code(401).send({ error: { code: "UNAUTHENTICATED", message: "authorization: Bearer <join token> is required" } });
      }
    });
  }

  addHealthRoutes(
    app,
    healthEndpoints({
      registry: options.metrics.registry,
      live: () => ({ ok: true, details: { instances: reconciler.supervisors().length, ...options.health?.() } }),
      ready: options.ready,
    }),
  );

  app.get("/instances", async () => ({
    instances: reconciler.supervisors().map((s) => {
      const a = s.assignment();
      const st = s.status();
      return {
        name: a.instanceName,
        assignment_id: a.assignmentId,
        replica: a.replica,
        model_id: a.spec?.modelId ?? "",
        status: s.phase(),
        reason: st.reason,
        pid: st.pid ?? null,
        restarts: st.restarts,
        port: a.port,
        prometheus_port: a.prometheusPort,
        prometheus_target: `${host}:${a.prometheusPort}`,
        gpu_uuids: a.gpuUuids,
      };
    }),
  }));

  // tei-manager's shape ({lines, start, end, total_lines}), selected by `tail=N` or by a
  // Python-style `start`/`end` slice over the lines held in memory. `:name` is the instance name
  // or an assignment id; with several replicas of one instance here, `replica` picks one.
  app.get<{ Params: { name: string }; Querystring: Record<string, string | undefined> }>("/instances/:name/logs", async (req, reply) => {
    const { name } = req.params;
    const q = req.query;
    const matches = reconciler.supervisors().filter((s) => s.assignmentId === name || s.assignment().instanceName === name);
    const replica = q.replica === undefined ? undefined : Number(q.replica);
    const chosen = replica === undefined ? matches[0] : matches.find((s) => s.assignment().replica === replica);
    if (!chosen) {
      return reply.code(404).send({ error: { code: "INSTANCE_NOT_FOUND", message: `no instance ${name} on this node`, field: "name" } });
    }
    const lines = chosen.log.ring.toArray();
    const total = lines.length;
    let start: number;
    let end: number;
    try {
      if (q.tail !== undefined) {
        const tail = parseIntParam(q.tail, "tail", 0, MAX_TAIL);
        start = Math.max(0, total - tail);
        end = total;
      } else if (q.start !== undefined || q.end !== undefined) {
        start = sliceIndex(q.start, 0, total, "start");
        end = sliceIndex(q.end, total, total, "end");
      } else {
        start = Math.max(0, total - DEFAULT_TAIL);
        end = total;
      }
    } catch (error) {
      return reply.code(400).send({ error: { code: "INVALID_QUERY", message: (error as Error).message, field: (error as { field?: string }).field } });
    }
    const selected = lines.slice(start, Math.max(start, end));
    return {
      instance: chosen.assignment().instanceName,
      assignment_id: chosen.assignmentId,
      replica: chosen.assignment().replica,
      lines: selected.map((l) => l.raw),
      entries: selected.map((l) => ({ timestamp: l.timestamp ?? null, level: l.level ?? null, message: l.message ?? null, target: l.target ?? null })),
      start,
      end: Math.max(start, end),
      total_lines: total,
    };
  });

  return app;
}

/** Fixed-length digest, so the comparison takes the same time whatever the input's length. */
function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function parseIntParam(value: string, field: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw Object.assign(new Error(`${field} must be a whole number from ${min} to ${max}`), { field });
  }
  return n;
}

/** Python-style index: negative counts from the end, clamped to [0, total]. */
function sliceIndex(value: string | undefined, fallback: number, total: number, field: string): number {
  if (value === undefined || value === "") return fallback;
  const n = parseIntParam(value, field, -1_000_000_000, 1_000_000_000);
  return Math.min(total, Math.max(0, n < 0 ? total + n : n));
}
