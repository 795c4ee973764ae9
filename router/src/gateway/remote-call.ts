/**
 * One HTTP call of a request to a remote backend, with undici: the upstream key as
 * `authorization: Bearer` and nowhere else, the request's `x-request-id`, and its trace context:
 * with tracing on, a CLIENT span per call whose `traceparent` goes upstream (with the client's
 * `tracestate`), so a TEI backend's own spans hang under the router's, as on the gRPC path; with
 * tracing off, the client's valid `traceparent` and `tracestate` as they came. The call ends at
 * the backend's `timeout_ms`, when the client leaves, or when another call of the same request
 * failed.
 *
 * Its outcome counts for the backend's health as this router sees it (RemoteHealth): no answer,
 * a timeout or a 5xx is a failure (a few in a row eject the backend for a while), any other
 * answer a success; a cancelled call is neither. A 401/403 is the fleet's credentials refused
 * (and its message may quote the key): the gateway's own 502 `backend_auth_error`, quoting
 * nothing. Other refusals become the route family's error (remote-error.ts). Log lines name the
 * backend and its URL without credentials or query, never a header or a body.
 */
import type { IncomingHttpHeaders } from "node:http";
import { Agent, request } from "undici";
import type { HttpCallSpan } from "../tracing/request-tracer.ts";
import { GatewayError } from "./gateway-error.ts";
import type { GatewayRequest } from "./gateway-request.ts";
import { type RemoteTarget, remoteAddress } from "./remote-backend-target.ts";
import { remoteRefusal } from "./remote-error.ts";
import { traceContextOf } from "./trace-context.ts";

/** One connection pool for every remote backend (undici keeps one per origin). */
const AGENT = new Agent({ keepAliveTimeout: 30_000, connections: 128 });

const JSON_TYPE = "application/json";

/** Each request's "client left" signal. */
const clientGone = new WeakMap<GatewayRequest, AbortSignal>();

/** A backend's answer of 2xx, read. */
export interface RemoteAnswer {
  readonly status: number;
  /** The body as sent. */
  readonly text: string;
  /** The body parsed. */
  readonly json: unknown;
  /** Its headers (TEI's `x-compute-*` among them). */
  readonly headers: IncomingHttpHeaders;
}

/** A call as undici made it, before the gateway reads its outcome. */
export interface RawAnswer {
  readonly status: number;
  readonly text: string;
  readonly headers: IncomingHttpHeaders;
}

/** Cancels `rq`'s calls when its client leaves (once per request, before its first call). */
export function watchClient(rq: GatewayRequest): void {
  if (clientGone.has(rq)) return;
  const gone = new AbortController();
  // After the answer this aborts nothing: every call has ended.
  rq.res.on("close", () => gone.abort());
  clientGone.set(rq, gone.signal);
}

/**
 * Sends one call to `t` and reads its whole answer; rejects as undici does (no answer, a
 * timeout, `signal` aborted). `headers` are added to the key and content type.
 */
export async function sendRemote(
  t: RemoteTarget,
  method: "GET" | "POST",
  path: string,
  json: unknown,
  headers: Record<string, string>,
  signal: AbortSignal,
  timeoutMs: number = t.timeoutMs,
): Promise<RawAnswer> {
  if (t.keyProblem !== undefined) throw keyUnusable(t);
  const h: Record<string, string> = { accept: JSON_TYPE, ...headers };
  if (method === "POST") h["content-type"] = JSON_TYPE;
  if (t.apiKey !== "") h.authorization = `Bearer ${t.apiKey}`;
  const res = await request(`${t.url}${path}`, {
    method,
    dispatcher: AGENT,
    headers: h,
    body: method === "POST" ? JSON.stringify(json) : undefined,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal,
  });
  return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
}

/** Options of one call. */
export interface CallOptions {
  /** Aborts the call when another call of the request failed (a cancelled call counts for nothing). */
  readonly cancel?: AbortSignal;
}

/**
 * Calls `path` on `t` for `rq` (`json` the body of a POST, null for a GET); resolves with a 2xx
 * answer, rejects with the gateway's error for anything else.
 */
export async function callRemote(
  rq: GatewayRequest,
  t: RemoteTarget,
  method: "GET" | "POST",
  path: string,
  json: unknown,
  o: CallOptions = {},
): Promise<RemoteAnswer> {
  if (t.keyProblem !== undefined) {
    // Once per entry as received (a new entry is a new target), not once per request.
    if (!keyProblemsLogged.has(t)) {
      keyProblemsLogged.add(t);
      rq.gw.log.error({ backend: t.name, problem: t.keyProblem }, "remote backend not called: the router cannot open its API key");
    }
    throw keyUnusable(t);
  }
  const address = remoteAddress(t);
  rq.countRemoteCall();
  const span =
    rq.span === null
      ? null
      : rq.span.startHttpCall({ method, route: path, url: `${address.loggable}${path}`, host: address.host, port: address.port, backend: t.name });
  const headers = traceHeaders(rq, span);
  headers["x-request-id"] = rq.requestId;
  const gone = clientGone.get(rq);
  const timeout = AbortSignal.timeout(t.timeoutMs);
  const signals = [timeout];
  if (gone !== undefined) signals.push(gone);
  if (o.cancel !== undefined) signals.push(o.cancel);
  let raw: RawAnswer;
  try {
    raw = await sendRemote(t, method, path, json, headers, signals.length === 1 ? timeout : AbortSignal.any(signals));
  } catch (err) {
    if (gone?.aborted === true || o.cancel?.aborted === true) {
      span?.end({ status: 0, error: "cancelled" });
      // Nobody reads it: the client left, or the request already failed with another call's error.
      throw new GatewayError(499, gone?.aborted === true ? "client closed the request" : "cancelled", "Backend", null, "client_closed");
    }
    const e = err as Error & { code?: string };
    const timedOut = e.name === "TimeoutError" || timeout.aborted || /timeout/i.test(`${e.name}${e.code ?? ""}`);
    span?.end({ status: 0, error: timedOut ? "timeout" : (e.code ?? e.name) });
    failed(rq, t, timedOut ? "timeout" : e.message);
    if (timedOut) throw new GatewayError(504, `remote backend "${t.name}" did not answer within ${t.timeoutMs} ms`, "Backend", null, "timeout");
    throw new GatewayError(502, `remote backend "${t.name}" could not be reached`, "Backend", null, "backend_error", 1000);
  }
  const status = raw.status;
  span?.end({ status, error: undefined });
  if (status >= 500) {
    failed(rq, t, `answered ${status}`);
    throw new GatewayError(502, `remote backend "${t.name}" answered ${status}`, "Backend", null, "backend_error", 1000);
  }
  t.health.ok();
  if (status === 401 || status === 403) {
    // The fleet's credentials, not the caller's: and the upstream's message may quote the key.
    rq.gw.log.warn({ backend: t.name, status }, "remote backend refused the router's credentials");
    throw new GatewayError(502, `remote backend "${t.name}" refused the fleet's credentials (${status})`, "Backend", null, "backend_auth_error");
  }
  if (status < 200 || status >= 300) throw remoteRefusal(t, status, raw.text, path);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.text);
  } catch {
    throw badAnswer(t, "not JSON");
  }
  return { status, text: raw.text, json: parsed, headers: raw.headers };
}

/** The trace context a call carries upstream: its own span's with tracing on, else the client's as it came. */
function traceHeaders(rq: GatewayRequest, span: HttpCallSpan | null): Record<string, string> {
  const { traceparent, tracestate } = traceContextOf(rq.grpcHeaders);
  const h: Record<string, string> = {};
  const tp = span === null ? traceparent : span.traceparent;
  if (tp !== undefined) h.traceparent = tp;
  if (tracestate !== undefined) h.tracestate = tracestate;
  return h;
}

/** Targets whose unusable key was logged. */
const keyProblemsLogged = new WeakSet<RemoteTarget>();

/**
 * The refusal of a call to a backend whose sealed key this router cannot open: the fleet's
 * configuration, not the backend's fault nor the caller's (so no ejection, no retry hint).
 */
function keyUnusable(t: RemoteTarget): GatewayError {
  return new GatewayError(
    502,
    `the router cannot use remote backend "${t.name}"'s API key: ${t.keyProblem} (every router needs the control plane's TEI_FLEET_SECRETS_KEY)`,
    "Backend",
    null,
    "backend_auth_error",
  );
}

/** The answer of a backend that is not what its API promises. */
export function badAnswer(t: RemoteTarget, what: string): GatewayError {
  return new GatewayError(502, `remote backend "${t.name}" gave an unreadable answer: ${what}`, "Backend", null, "backend_error");
}

function failed(rq: GatewayRequest, t: RemoteTarget, reason: string): void {
  const ejected = t.health.failed();
  rq.gw.log.warn({ backend: t.name, url: remoteAddress(t).loggable, reason, ejected }, ejected ? "remote backend ejected" : "remote backend call failed");
}
