/**
 * One HTTP request through the gateway, from its route's point of view: the model it resolved
 * to, the TEI calls it runs (tei-batch.ts), and its one answer (a body, or an error in its route
 * family's shape) with TEI's timing headers and who served it; then its log line, metrics and,
 * with tracing on, its span (a SERVER span, one CLIENT span per TEI call: tracing/). A client
 * that leaves cancels the TEI calls still open.
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type AdmissionCall, type AdmissionStep, endCall } from "../admission/admission.ts";
import type { SpareSlots } from "../admission/fair-queue.ts";
import type { AttemptContext } from "../proxy/attempt-contract.ts";
import type { RouteTable } from "../routing/route-table.ts";
import type { MethodSpec } from "../tei/method-table.ts";
import type { RequestSpan, RequestTracer } from "../tracing/request-tracer.ts";
import { errorBody, type RouteFamily, retryAfterFor, statusFor } from "./error-body.ts";
import { GatewayError } from "./gateway-error.ts";
import type { GatewayMetrics } from "./gateway-metrics.ts";
import type { MetaSum } from "./grpc-response.ts";
import { grpcCodeOf } from "./http-admission.ts";
import type { HttpRequest, HttpResponse } from "./http-exchange.ts";
import type { ModelInfoCache } from "./model-info.ts";
import type { ModelResolver, ResolvedModel } from "./model-resolver.ts";
import { startRequestSpan } from "./request-span.ts";
import { TeiBatch } from "./tei-batch.ts";

/** What every request of a gateway shares. */
export interface GatewayContext {
  readonly attempt: AttemptContext;
  readonly table: RouteTable;
  readonly resolver: ModelResolver;
  readonly models: ModelInfoCache;
  readonly metrics: GatewayMetrics;
  readonly registry: Registry;
  readonly log: Logger;
  /**
   * Where the one line per request goes (null: not logged). A child of `log` on the same
   * destination, without its redaction: the line's fields are fixed here (no credential among
   * them), and redacting each line cost ~20 µs of CPU per request (pino + fast-redact, 14 paths).
   */
  readonly requestLog: Logger | null;
  /** The router's admission steps every request passes once its model is known (default none). */
  readonly admission: readonly AdmissionStep[];
  /** The router's spare in-flight slots for a batch's further calls (null: no in-flight limit). */
  readonly spare: SpareSlots | null;
  /**
   * Starts each request's span when tracing is on (an OTLP endpoint configured); null: off, and
   * no span object is made (the one check per request is this field).
   */
  readonly tracer: RequestTracer | null;
}

/** A route of the gateway. */
export interface RouteSpec {
  /** The path as documented (the metrics and log label), e.g. `/v1/embeddings`. */
  readonly name: string;
  readonly family: RouteFamily;
  readonly method: "GET" | "POST";
  /** Resolve a model before the handler runs (from headers, the path prefix or the body). */
  readonly needsModel: boolean;
  /**
   * Handles the request (its body parsed, `{}` for GET): answers it with `ok`/`send`, now or once
   * its TEI calls answered; throws (or rejects with) a GatewayError to refuse it.
   */
  readonly handler: (rq: GatewayRequest, body: Record<string, unknown>) => void | Promise<void>;
}

const JSON_TYPE = "application/json";
let sequence = 0;
const BOOT = Date.now().toString(36);

/** One request, from its route's dispatch to its answer, log line and metrics. */
export class GatewayRequest {
  readonly gw: GatewayContext;
  readonly req: HttpRequest;
  readonly res: HttpResponse;
  readonly route: RouteSpec;
  readonly startedAt = performance.now();
  readonly requestId: string;
  /** The model the request resolved to (set before a model route's handler runs). */
  model: ResolvedModel | null = null;
  /** The request as the admission steps saw it, ended with the request; null when no step ran. */
  admission: AdmissionCall | null = null;
  /** Metadata of its TEI calls: content-type, plus the client's `traceparent` / `tracestate`. */
  grpcHeaders: readonly string[];
  /** Inputs, and TEI calls' chunks, for the log line. */
  inputs = 0;
  chunks = 0;
  /** Its SERVER span (tracing on), parent of its TEI calls' spans; null with tracing off. */
  readonly span: RequestSpan | null;
  /** Calls made for it (TEI gRPC calls, or a remote backend's HTTP calls), and the refusal answered (for the span). */
  private calls = 0;
  private error: GatewayError | null = null;
  private batch: TeiBatch | null = null;
  private meta: MetaSum | null = null;
  private instance = "";
  private node = "";
  private status = 0;
  private done = false;

  constructor(gw: GatewayContext, req: HttpRequest, res: HttpResponse, route: RouteSpec, grpcHeaders: readonly string[]) {
    this.gw = gw;
    this.req = req;
    this.res = res;
    this.route = route;
    this.grpcHeaders = grpcHeaders;
    const given = req.headers["x-request-id"];
    this.requestId = typeof given === "string" && given.length > 0 && given.length <= 128 && /^[\w.:-]+$/.test(given) ? given : `${BOOT}-${++sequence}`;
    const tracer = gw.tracer;
    this.span = tracer === null ? null : startRequestSpan(tracer, req, route.name, grpcHeaders);
  }

  /** Counts one HTTP call to a remote backend made for this request (remote-call.ts). */
  countRemoteCall(): void {
    this.calls += 1;
  }

  /** The route family's error shape. */
  get family(): RouteFamily {
    return this.route.family;
  }

  /** The resolved model (only on model routes). */
  get resolved(): ResolvedModel {
    return this.model as ResolvedModel;
  }

  /**
   * Runs TEI calls for this request (`frames`: one framed request message each) on its model's
   * replicas, `window` of them at a time; `then` gets the batch when all answered. A failure is
   * answered here, in the route's shape.
   */
  run(method: MethodSpec, frames: readonly Buffer[], window: number, then: (b: TeiBatch) => void): void {
    const m = this.resolved;
    this.chunks = Math.max(this.chunks, 1);
    this.calls += frames.length;
    const batch = new TeiBatch(
      { ctx: this.gw.attempt, method, target: m.target, headers: this.grpcHeaders, startedAt: this.startedAt, window, trace: this.span, spare: this.gw.spare },
      frames,
      (b) => {
        this.batch = null;
        this.noteServedBy(b);
        if (this.done) return;
        if (b.error !== null) {
          this.fail(b.error);
          return;
        }
        try {
          then(b);
        } catch (err) {
          this.fail(err);
        }
      },
    );
    this.batch = batch;
    batch.start();
  }

  private noteServedBy(b: TeiBatch): void {
    const s = b.servedBy;
    if (s.length === 0) return;
    if (s.length === 1) {
      this.instance = (s[0] as { instanceName: string }).instanceName;
      this.node = (s[0] as { node: string }).node;
      return;
    }
    const instances: string[] = [];
    const nodes: string[] = [];
    for (const r of s) {
      if (!instances.includes(r.instanceName)) instances.push(r.instanceName);
      if (!nodes.includes(r.node)) nodes.push(r.node);
    }
    this.instance = instances.join(", ");
    this.node = nodes.join(", ");
  }

  /** Answers 200 with a JSON body and TEI's headers for `meta` (null: no inference headers). */
  ok(body: string, meta: MetaSum | null): void {
    this.meta = meta;
    this.send(200, body, JSON_TYPE);
  }

  /** Answers with a status and body as they are. */
  send(status: number, body: string, contentType: string | null, extra?: readonly string[]): void {
    if (this.done) return;
    const h: string[] = ["x-request-id", this.requestId];
    if (contentType !== null) h.push("content-type", contentType);
    if (this.model !== null && this.model.modelId !== "") h.push("x-tei-model", this.model.modelId);
    if (this.instance !== "") h.push("x-tei-instance", this.instance, "x-tei-node", this.node);
    const meta = this.meta;
    if (meta !== null && status === 200) {
      const n = meta.items || 1;
      const total = String(Math.floor(performance.now() - this.startedAt));
      h.push(
        "x-compute-type",
        "gpu+optimized",
        "x-compute-time",
        total,
        "x-total-time",
        total,
        "x-compute-characters",
        String(meta.chars),
        "x-compute-tokens",
        String(meta.tokens),
        "x-tokenization-time",
        String(Math.floor(meta.tokenizationNs / n / 1e6)),
        "x-queue-time",
        String(Math.floor(meta.queueNs / n / 1e6)),
        "x-inference-time",
        String(Math.floor(meta.inferenceNs / n / 1e6)),
      );
    }
    if (extra !== undefined) for (const x of extra) h.push(x);
    const queueMs = this.admission?.queueMs ?? -1;
    if (queueMs >= 0) h.push("x-fleet-queue-time", String(Math.floor(queueMs)));
    h.push("content-length", String(Buffer.byteLength(body)));
    this.status = status;
    this.res.writeHead(status, h);
    this.res.end(body);
    this.finish();
  }

  /** Answers an error in the route family's shape (anything not a GatewayError is a 500, logged). */
  fail(err: unknown): void {
    if (this.done) return;
    let e: GatewayError;
    if (err instanceof GatewayError) e = err;
    else {
      this.gw.log.error({ err, requestId: this.requestId, route: this.route.name }, "gateway route failed");
      e = new GatewayError(500, "gateway error", "Backend", null, "internal_error");
    }
    this.error = e;
    const family = this.family;
    const retry = retryAfterFor(family, e);
    // Whole seconds for Retry-After (at least 1), the exact hint in retry-after-ms (the SDKs prefer it).
    const extra = retry > 0 ? ["retry-after", String(Math.max(1, Math.ceil(retry / 1000))), "retry-after-ms", String(Math.ceil(retry))] : undefined;
    this.send(statusFor(family, e), errorBody(family, e), JSON_TYPE, extra);
  }

  /** The client closed the connection before its answer: its TEI calls are cancelled. */
  clientGone(): void {
    if (this.done) return;
    this.batch?.cancel();
    this.status = 499;
    this.finish();
  }

  private finish(): void {
    this.done = true;
    const call = this.admission;
    if (call !== null) {
      if (call.computeTokens === 0 && this.meta !== null) call.computeTokens = this.meta.tokens;
      // Usage counts a batch's inputs (32 inputs in one request are 32), not 1 per request.
      if (this.inputs > 0) call.inputs = this.inputs;
      endCall(call, grpcCodeOf(this.status));
    }
    const seconds = (performance.now() - this.startedAt) / 1000;
    const model = this.model !== null && this.model.modelId !== "" ? this.model.name : "";
    this.gw.metrics.record(this.route.name, model, this.status, seconds);
    const span = this.span;
    if (span !== null) this.endSpan(span);
    const log = this.gw.requestLog;
    if (log === null || !log.isLevelEnabled("info")) return;
    const meta = this.meta;
    log.info(
      {
        requestId: this.requestId,
        route: this.route.name,
        model: this.model?.name,
        modelId: this.model?.modelId || undefined,
        instance: this.instance || undefined,
        node: this.node || undefined,
        status: this.status,
        ms: Math.round(seconds * 1e6) / 1000,
        inputs: this.inputs || undefined,
        chunks: this.chunks || undefined,
        tokens: meta?.tokens,
        queueMs: meta === null ? undefined : Math.round(meta.queueNs / (meta.items || 1) / 1e3) / 1e3,
        inferenceMs: meta === null ? undefined : Math.round(meta.inferenceNs / (meta.items || 1) / 1e3) / 1e3,
        traceparent: this.grpcHeaders.length > 2 ? this.grpcHeaders[3] : undefined,
        traceId: span?.traceId,
        spanId: span?.spanId,
      },
      "http request",
    );
  }

  /** Ends the request's span with what the log line says of it. */
  private endSpan(span: RequestSpan): void {
    const m = this.model;
    const e = this.error;
    span.end({
      status: this.status,
      requestId: this.requestId,
      model: m?.name,
      modelId: m === null || m.modelId === "" ? undefined : m.modelId,
      instance: this.instance || undefined,
      node: this.node || undefined,
      backend: this.route.needsModel ? m?.remote?.name : undefined,
      inputs: this.inputs,
      chunks: this.chunks,
      calls: this.calls,
      errorCode: e === null ? undefined : (e.code ?? e.teiType),
      errorMessage: e?.message,
    });
  }
}
