/**
 * The HTTP gateway: an HTTP/1.1 (keep-alive) and h2c server, one port, on the router's data
 * path (protocol-sniffer.ts), that answers
 * TEI's HTTP API, OpenAI's embeddings and the rerank APIs (http-routes.ts) for the whole fleet,
 * by turning each request into TEI gRPC calls that go through the router's own route table,
 * balancer, backend connections, retry and outlier ejection (tei-batch.ts). Started by the
 * router when `httpListen` is set.
 *
 * Before a route runs: its path and method, the body (request-body.ts), its model
 * (model-selection.ts) and the router's admission steps (http-admission.ts).
 * Every refusal is in the route family's error shape (error-body.ts). With a tracer every
 * request is a span, refusals of unknown paths included (request-span.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createH2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { AdmissionStep } from "../../admission/admission.ts";
import type { SpareSlots } from "../../admission/fair-queue.ts";
import type { AttemptContext } from "../../proxy/attempt-contract.ts";
import type { RouteTable } from "../../routing/route-table.ts";
import type { RequestTracer } from "../../tracing/request-tracer.ts";
import { errorBody, type RouteFamily } from "../error-body.ts";
import { GatewayError } from "../gateway-error.ts";
import { GatewayMetrics } from "../gateway-metrics.ts";
import { type GatewayContext, GatewayRequest, type RouteSpec } from "../gateway-request.ts";
import { admitHttp, httpAdmissionCall } from "../http-admission.ts";
import { asResponse, type HttpRequest, type HttpResponse } from "../http-exchange.ts";
import { ModelInfoCache } from "../model-info.ts";
import { type ModelResolver, RouteTableModelResolver } from "../model-resolver.ts";
import { createSniffingServer } from "../protocol-sniffer.ts";
import { serveRemote } from "../remote-backend.ts";
import { readJsonBody } from "../request-body.ts";
import { startRequestSpan } from "../request-span.ts";
import { type RoutedPath, routePath } from "../routes/route-table.ts";
import { grpcHeadersOf } from "../trace-context.ts";
import { namesModel, selectModel } from "./model-selection.ts";

/** What the gateway shares with the router. */
export interface GatewayDeps {
  /** The router's route table, backend pool, outlier detector and retry counter. */
  readonly attempt: AttemptContext;
  readonly table: RouteTable;
  /** The router's metrics registry (the gateway's metrics are added to it). */
  readonly registry: Registry;
  readonly log: Logger;
  /**
   * Where the one line per request goes; default `log`. The router passes a logger on a
   * BatchedLogDestination (core), so that an access log line costs no system call of its own.
   */
  readonly requestLog?: Logger;
  /** How model names resolve; defaults to model ids and instance names of the route table. */
  readonly resolver?: ModelResolver;
  /**
   * The router's admission steps (API key, rate limit, queue: FleetAdmission.steps), run once per
   * request after its model is resolved. Default none.
   */
  readonly admission?: readonly AdmissionStep[];
  /**
   * The router's in-flight slots (its fair queue), when it has a limit: a batch's calls beyond
   * the first take spare ones (tei-batch.ts), so the limit counts calls with TEI. Default none.
   */
  readonly spare?: SpareSlots | null;
  /**
   * Traces every request (a SERVER span, a CLIENT span per TEI call; tracing/start-tracing.ts
   * makes one when an OTLP endpoint is configured). Default none: no span is made.
   */
  readonly tracer?: RequestTracer | null;
}

/** Options of the gateway. */
export interface GatewayOptions {
  /** Largest request body in bytes; larger ones are answered 413. Default 16 MiB. */
  maxBodyBytes?: number;
  /** One JSON log line per request. Default true. */
  requestLog?: boolean;
  /** Idle keep-alive connections are closed after this long, ms. Default 65 000. */
  keepAliveTimeoutMs?: number;
}

/** A running (or startable) gateway. */
export interface Gateway {
  /** Binds `host:port`; resolves with the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting, lets open requests finish for `graceMs`, then closes every connection. */
  close(graceMs: number): Promise<void>;
  /** The model resolver in use. */
  readonly resolver: ModelResolver;
}

const EMPTY_BODY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const JSON_TYPE = "application/json";

/**
 * The request log: `log`'s child on the same destination, with the same bindings, without
 * redaction (see GatewayContext.requestLog). A logger that cannot make such a child (a test
 * double) is used as it is.
 */
function requestLogOf(log: Logger): Logger {
  try {
    return log.child({}, { redact: { paths: [] } });
  } catch {
    return log;
  }
}

/** Creates the gateway; nothing listens until `listen`. */
export function createGateway(deps: GatewayDeps, options: GatewayOptions = {}): Gateway {
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const resolver = deps.resolver ?? new RouteTableModelResolver(deps.table);
  const gw: GatewayContext = {
    attempt: deps.attempt,
    table: deps.table,
    resolver,
    models: new ModelInfoCache(deps.attempt),
    metrics: new GatewayMetrics(deps.registry),
    registry: deps.registry,
    log: deps.log,
    requestLog: (options.requestLog ?? true) ? requestLogOf(deps.requestLog ?? deps.log) : null,
    admission: deps.admission ?? [],
    spare: deps.spare ?? null,
    tracer: deps.tracer ?? null,
  };

  const onRequest = (req: HttpRequest, raw: ServerResponse | Http2ServerResponse): void => {
    const res = asResponse(raw);
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const routed = routePath(path, req.method);
    if (routed === null) {
      refuse(
        req,
        res,
        null,
        path.startsWith("/v1/") ? "openai" : "tei",
        404,
        new GatewayError(404, `unknown path ${path.slice(0, 200)}`, "NotFound", null, "unknown_url"),
      );
      return;
    }
    const spec = routed.route;
    if (req.method !== spec.method) {
      refuse(
        req,
        res,
        spec.name,
        spec.family,
        405,
        new GatewayError(405, `${path.slice(0, 200)} takes ${spec.method}`, "Validation", null, "method_not_allowed"),
        ["allow", spec.method],
      );
      return;
    }
    const rq = new GatewayRequest(gw, req, res, spec, grpcHeadersOf(req.headers));
    res.on("close", () => rq.clientGone()); // after the answer: nothing (the request is done)
    if (spec.method === "GET") {
      req.resume();
      dispatch(rq, routed, null);
      return;
    }
    readBody(rq, routed);
  };

  /** Reads the body (413 past the limit), then dispatches it parsed. */
  const readBody = (rq: GatewayRequest, routed: RoutedPath): void => {
    readJsonBody(
      rq.req,
      maxBodyBytes,
      (body) => {
        if (body instanceof GatewayError) rq.fail(body);
        else dispatch(rq, routed, body);
      },
      () => rq.clientGone(),
    );
  };

  /** Resolves the model (when the route needs one, or the request names one) and runs the route. */
  const dispatch = (rq: GatewayRequest, routed: RoutedPath, body: Record<string, unknown> | null): void => {
    const spec: RouteSpec = rq.route;
    try {
      if (spec.needsModel || namesModel(rq.req.headers, routed)) {
        const m = selectModel(resolver, deps.table, rq.req.headers, routed, body);
        if (m instanceof GatewayError) {
          if (spec.needsModel) {
            rq.fail(m);
            return;
          }
        } else {
          rq.model = m;
        }
      }
      if (gw.admission.length === 0) {
        run(rq, body);
        return;
      }
      rq.admission = httpAdmissionCall(spec.name, rq.req, rq.model?.admissionTarget ?? rq.model?.target ?? null);
      admitHttp(
        gw.admission,
        rq.admission,
        () => run(rq, body),
        (err) => rq.fail(err),
      );
    } catch (err) {
      rq.fail(err);
    }
  };

  /** Runs the route's handler; what it throws (or rejects with) is answered in its family's shape. */
  const run = (rq: GatewayRequest, body: Record<string, unknown> | null): void => {
    try {
      // A name the model catalog leads to a remote backend is forwarded over HTTP (remote-backend.ts).
      const remote = rq.route.needsModel ? rq.model?.remote : undefined;
      const r = remote !== undefined ? serveRemote(rq, body ?? EMPTY_BODY, remote) : rq.route.handler(rq, body ?? EMPTY_BODY);
      if (r instanceof Promise) r.catch((err: unknown) => rq.fail(err));
    } catch (err) {
      rq.fail(err);
    }
  };

  /**
   * Answers a request no route takes (404; 405: `route` is the path's, for another method), still
   * logged, counted and traced.
   */
  const refuse = (
    req: HttpRequest,
    res: HttpResponse,
    route: string | null,
    family: RouteFamily,
    status: number,
    err: GatewayError,
    extra: string[] = [],
  ): void => {
    const span = gw.tracer === null ? null : startRequestSpan(gw.tracer, req, route, grpcHeadersOf(req.headers));
    req.resume();
    const body = errorBody(family, err);
    res.writeHead(status, ["content-type", JSON_TYPE, "content-length", String(Buffer.byteLength(body)), ...extra]);
    res.end(body);
    gw.metrics.record("unknown", "", status, 0);
    span?.end({
      status,
      requestId: undefined,
      model: undefined,
      modelId: undefined,
      instance: undefined,
      node: undefined,
      backend: undefined,
      inputs: 0,
      chunks: 0,
      calls: 0,
      errorCode: err.code ?? err.teiType,
      errorMessage: err.message,
    });
    if (gw.requestLog !== null) gw.requestLog.info({ route: "unknown", method: req.method, status }, "http request");
  };

  const keepAliveMs = options.keepAliveTimeoutMs ?? 65_000;
  const h1 = createServer({ keepAliveTimeout: keepAliveMs, noDelay: true }, onRequest as (req: IncomingMessage, res: ServerResponse) => void);
  h1.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    // A request the HTTP parser refused (bad framing, oversize headers): 400 and close.
    const status = err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });
  const h2 = createH2Server({}, onRequest as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
  const sessions = new Set<ServerHttp2Session>();
  h2.on("session", (s: ServerHttp2Session) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  const { server, sockets } = createSniffingServer(h1, h2, keepAliveMs);

  return {
    resolver,
    async listen(host, port) {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      // node:http tracks its connections (idle closing, header and request timeouts) from its
      // 'listening' event; the sniffing server listens for it.
      h1.emit("listening");
      return (server.address() as AddressInfo).port;
    },
    async close(graceMs) {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      h1.close(); // closes idle keep-alive connections, stops the timeout checks
      for (const s of sessions) s.close(); // GOAWAY: open streams finish, no new ones
      const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([closed, grace]);
      h1.closeAllConnections();
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
