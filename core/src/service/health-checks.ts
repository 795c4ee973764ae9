import type { Registry } from "prom-client";

/**
 * The probe endpoints every service answers, defined once and independent of the HTTP server
 * that carries them (the kit's own {@link startHealthServer}, or a service's Fastify app):
 *
 * - `GET /healthz`: liveness. 200 while the process can answer at all; a failure means "restart me".
 * - `GET /readyz`: readiness. 200 when the service can do its job (the control plane reaches
 *   Redis, the router has a route table), else 503: "send me no work", never "restart me".
 * - `GET /metrics`: Prometheus text from the service's own registry.
 *
 * Probe bodies are JSON: `{"status": "ok" | "unavailable", ...details}`.
 */

/** What a check finds. `details` go into the JSON body (and may replace `status`'s word). */
export interface CheckResult {
  ok: boolean;
  details?: Record<string, unknown>;
}

/** A liveness or readiness check. A check that throws, or does not answer in time, fails. */
export type Check = () => CheckResult | Promise<CheckResult>;

/** Options of {@link healthEndpoints}. */
export interface HealthOptions {
  /** Liveness. Default: always ok (the process answered). */
  live?: Check;
  /** Readiness. Default: always ok. */
  ready?: Check;
  /** Serve `/metrics` from this registry. Default: no `/metrics` (the service has its own). */
  registry?: Registry;
  /** A check still running after this long fails (a probe must not hang on a dead dependency). Default 2000 ms. */
  checkTimeoutMs?: number;
}

/** An answer, ready for any HTTP server to send. */
export interface HttpAnswer {
  statusCode: number;
  contentType: string;
  body: string;
}

/** One endpoint: its path and how it answers a GET. */
export interface HealthEndpoint {
  readonly path: "/healthz" | "/readyz" | "/metrics";
  answer(): Promise<HttpAnswer>;
}

const JSON_TYPE = "application/json; charset=utf-8";

/** The endpoints for `options`: `/healthz`, `/readyz`, and `/metrics` when a registry is given. */
export function healthEndpoints(options: HealthOptions = {}): HealthEndpoint[] {
  const timeoutMs = options.checkTimeoutMs ?? 2_000;
  const always: Check = () => ({ ok: true });
  const endpoints: HealthEndpoint[] = [
    { path: "/healthz", answer: () => answerCheck(options.live ?? always, timeoutMs) },
    { path: "/readyz", answer: () => answerCheck(options.ready ?? always, timeoutMs) },
  ];
  const { registry } = options;
  if (registry) {
    endpoints.push({
      path: "/metrics",
      answer: async () => ({ statusCode: 200, contentType: registry.contentType, body: await registry.metrics() }),
    });
  }
  return endpoints;
}

/** Runs `check` within `timeoutMs`: 200 with its details when ok, else 503 saying why. */
async function answerCheck(check: Check, timeoutMs: number): Promise<HttpAnswer> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, details: { error: `the check did not answer within ${timeoutMs} ms` } }), timeoutMs);
  });
  let result: CheckResult;
  try {
    result = await Promise.race([Promise.resolve().then(check), timeout]);
  } catch (error) {
    result = { ok: false, details: { error: (error as Error).message } };
  } finally {
    clearTimeout(timer);
  }
  const body = { status: result.ok ? "ok" : "unavailable", ...result.details };
  return { statusCode: result.ok ? 200 : 503, contentType: JSON_TYPE, body: JSON.stringify(body) };
}
