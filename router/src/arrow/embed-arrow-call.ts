/**
 * tei-manager's `TeiMultiplexer/EmbedArrow` served by the router: the request's Arrow IPC texts
 * (arrow-codec.ts, loaded on the first call) become one unary `tei.v1.Embed/Embed` per row, sent
 * through the gateway's batch path (gateway/tei-batch.ts: each row a BackendAttempt of its own,
 * spread over the target's ready replicas, in parallel up to a window, retried and counted for
 * outlier ejection as any call), and the answers go back as one Arrow IPC batch in row order.
 *
 * A row that fails (a null text, a text TEI refuses) gets its message in the `error` column and a
 * null embedding; the other rows are still served. A request that cannot be read (bad protobuf,
 * bad Arrow IPC, a first column that is not text) is INVALID_ARGUMENT, naming the problem; a
 * target with no ready replica gets the router's usual NOT_FOUND / UNAVAILABLE.
 */
import { performance } from "node:perf_hooks";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EmbedArrowRequestSchema, EmbedArrowResponseSchema, type Target as TargetMessage } from "@tei-fleet/proto/tei_multiplexer/v1";
import { type AdmissionCall, endCall } from "../admission/admission.ts";
import { embedRequest } from "../gateway/grpc-request.ts";
import { embeddingBytes, MetaSum } from "../gateway/grpc-response.ts";
import { TeiBatch } from "../gateway/tei-batch.ts";
import { FrameReader, frameMessage } from "../grpc/grpc-frame.ts";
import { GrpcStatus, type GrpcStatusCode, RouterError } from "../grpc/grpc-status.ts";
import { addServedBy, sendStatus, statusTrailers } from "../grpc/status-response.ts";
import type { H2Stream, StreamHandler } from "../h2/index.ts";
import { registerLocalMethod } from "../proxy/proxy-call.ts";
import type { ProxyContext } from "../proxy/proxy-context.ts";
import type { Replica } from "../routing/replica.ts";
import { METHODS, type MethodSpec } from "../tei/method-table.ts";
import type { Target } from "../tei/target.ts";
import type { GrpcCallSpan } from "../tracing/request-tracer.ts";
import { startTracedCall } from "../tracing/w3c-trace-context.ts";

/** The multiplexer method this module serves (MethodSpec.name). */
export const EMBED_ARROW_NAME = "tei_multiplexer.v1.TeiMultiplexer/EmbedArrow";

/** tei.v1.Embed/Embed: what each row becomes. */
const EMBED = METHODS.get("/tei.v1.Embed/Embed") as MethodSpec;

/** Rows in flight per ready replica of the target (TEI batches them itself). */
const WINDOW_PER_REPLICA = 32;

type Codec = typeof import("./arrow-codec.ts");
let codec: Promise<Codec> | null = null;

/** apache-arrow and the codec, imported on the first EmbedArrow call only. */
function loadCodec(): Promise<Codec> {
  codec ??= import("./arrow-codec.ts");
  return codec;
}

/** The multiplexer `Target` message as the router's Target (tei-manager's checks and messages). */
function targetOf(t: TargetMessage | undefined): Target {
  if (t === undefined) throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "missing target: set Target.instance_name, model_id or instance_index");
  switch (t.routing.case) {
    case "instanceName":
      if (t.routing.value === "") throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "Target.instance_name is empty");
      return { kind: "instance", name: t.routing.value };
    case "modelId":
      if (t.routing.value === "") throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "Target.model_id is empty");
      return { kind: "model", model: t.routing.value };
    case "instanceIndex":
      return { kind: "index", index: t.routing.value, model: undefined };
    default:
      throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "Target has no routing: set instance_name, model_id or instance_index");
  }
}

/** Ready replicas the target's rows can spread over (1 for an instance index). */
function spread(ctx: ProxyContext, target: Target): number {
  if (target.kind === "index") return 1;
  let n = 0;
  for (const r of ctx.table.replicas()) if (target.kind === "instance" ? r.instanceName === target.name : r.modelId === target.model) n++;
  return Math.max(1, n);
}

/**
 * Makes the router serve EmbedArrow (proxy-call.ts dispatches it here). Loads no Arrow code:
 * apache-arrow is imported on the first call.
 */
export function registerEmbedArrow(): void {
  registerLocalMethod(EMBED_ARROW_NAME, startEmbedArrowCall);
}

/** Starts serving an admitted EmbedArrow call and makes it the handler of the client stream. */
export function startEmbedArrowCall(ctx: ProxyContext, down: H2Stream, call: AdmissionCall, method: MethodSpec, endStream: boolean): StreamHandler {
  const c = new EmbedArrowCall(ctx, down, call, method);
  down.handler = c;
  ctx.metrics.callStarted();
  if (endStream) c.onRequestEnd();
  return c;
}

class EmbedArrowCall implements StreamHandler {
  private readonly ctx: ProxyContext;
  private readonly down: H2Stream;
  private readonly call: AdmissionCall;
  private readonly method: MethodSpec;
  private readonly reader: FrameReader;
  private frame: Buffer | null = null;
  private batch: TeiBatch | null = null;
  private replica: Replica | null = null;
  private done = false;
  /** The call's span (tracing on): every row's TEI call carries its traceparent. */
  private readonly span: GrpcCallSpan | null = null;
  /** Metadata of the rows' TEI calls: the caller's, with the span's trace context when traced. */
  private readonly headers: readonly string[];
  private message = "";

  constructor(ctx: ProxyContext, down: H2Stream, call: AdmissionCall, method: MethodSpec) {
    this.ctx = ctx;
    this.down = down;
    this.call = call;
    this.method = method;
    this.reader = new FrameReader(ctx.maxMessageBytes);
    let headers = call.headers;
    if (ctx.tracer !== null) {
      // One span for the router's hop, as for proxied calls; the rows' TEI spans hang under it.
      ({ span: this.span, headers } = startTracedCall(ctx.tracer, method.name, headers));
    }
    this.headers = headers;
  }

  onHeaders(_stream: H2Stream, _headers: string[], endStream: boolean): void {
    if (endStream) this.onRequestEnd();
  }

  onData(_stream: H2Stream, data: Buffer, endStream: boolean): void {
    // The request is held whole (bounded by maxMessageBytes), so its bytes are credited at once.
    this.down.conn.consume(this.down, data.length);
    if (!this.done) {
      try {
        this.reader.push(data);
        for (let f = this.reader.read(); f !== null; f = this.reader.read()) {
          if (this.frame !== null) throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "unary call with more than one request message");
          this.frame = f;
        }
      } catch (err) {
        this.fail(err);
      }
    }
    if (endStream) this.onRequestEnd();
  }

  onReset(): void {
    this.batch?.cancel();
    this.finish(GrpcStatus.CANCELLED);
  }

  onDrain(): void {}

  onRequestEnd(): void {
    if (this.done) return;
    try {
      if (this.reader.buffered > 0)
        throw new RouterError(GrpcStatus.INTERNAL, `request ended inside a message (${this.reader.buffered} bytes of an incomplete message)`);
      if (this.frame === null) throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "unary call ended without a request message");
      const frame = this.frame;
      this.frame = null;
      this.begin(frame);
    } catch (err) {
      this.fail(err);
    }
  }

  private begin(frame: Buffer): void {
    let req: ReturnType<typeof fromBinary<typeof EmbedArrowRequestSchema>>;
    try {
      req = fromBinary(EmbedArrowRequestSchema, frame.subarray(5));
    } catch (err) {
      throw new RouterError(GrpcStatus.INVALID_ARGUMENT, `malformed EmbedArrowRequest: ${(err as Error).message}`);
    }
    const target = targetOf(req.target);
    this.call.target = target;
    // The whole call fails as any call does when its target has no ready replica.
    this.replica = this.ctx.table.resolve(target);
    loadCodec().then(
      (c) => this.embed(c, req.arrowIpc, req.truncate, req.normalize, req.noop, target),
      (err: unknown) => {
        this.ctx.log.error({ err }, "loading apache-arrow failed");
        this.fail(new RouterError(GrpcStatus.INTERNAL, "EmbedArrow: the Arrow library could not be loaded"));
      },
    );
  }

  private embed(c: Codec, ipc: Uint8Array, truncate: boolean, normalize: boolean, noop: boolean, target: Target): void {
    if (this.done) return;
    try {
      const read = c.readTexts(ipc);
      if (!read.ok) throw new RouterError(GrpcStatus.INVALID_ARGUMENT, read.problem);
      const texts = read.texts;
      const n = texts.length;
      const errors = new Array<string | null>(n).fill(null);
      const rows: number[] = []; // input row of each call
      for (let i = 0; i < n; i++) {
        if (texts[i] === null) errors[i] = "input text is null";
        else rows.push(i);
      }
      const vectors = new Array<Uint8Array | null>(n).fill(null);
      if (noop || rows.length === 0) {
        // noop: tei-manager's overhead measurement, no backend call; rows get zero-length vectors.
        if (noop) for (const i of rows) vectors[i] = new Uint8Array(0);
        this.answer(c.writeEmbeddings(vectors, errors, 0));
        return;
      }
      const o = { truncate, direction: 0 as const, promptName: undefined };
      const frames = rows.map((i) => embedRequest(texts[i] as string, o, normalize, undefined));
      const window = Math.min(rows.length, WINDOW_PER_REPLICA * spread(this.ctx, target));
      const batch = new TeiBatch(
        { ctx: this.ctx, method: EMBED, target, headers: this.headers, startedAt: this.call.startedAt, window, perCallErrors: true },
        frames,
        (b) => this.batchDone(c, b, rows, vectors, errors),
      );
      this.batch = batch;
      batch.start();
    } catch (err) {
      this.fail(err);
    }
  }

  private batchDone(c: Codec, b: TeiBatch, rows: readonly number[], vectors: (Uint8Array | null)[], errors: (string | null)[]): void {
    if (this.done) return;
    try {
      if (b.servedBy[0] !== undefined) this.replica = b.servedBy[0];
      const meta = new MetaSum();
      let dim = -1;
      for (let k = 0; k < rows.length; k++) {
        const row = rows[k] as number;
        const e = b.errors?.[k];
        if (e !== null && e !== undefined) {
          errors[row] = e.message;
          continue;
        }
        let v: Buffer;
        try {
          v = embeddingBytes(b.answers[k] as Buffer, meta);
        } catch (err) {
          errors[row] = `malformed answer from TEI: ${(err as Error).message}`;
          continue;
        }
        const d = v.length >> 2;
        if (dim < 0) dim = d;
        if (d !== dim) {
          errors[row] = `TEI answered ${d} dimensions where other rows have ${dim}`;
          continue;
        }
        vectors[row] = v;
      }
      this.answer(c.writeEmbeddings(vectors, errors, Math.max(0, dim)));
    } catch (err) {
      this.fail(err);
    }
  }

  /** Sends the response message and an OK status. */
  private answer(ipc: Uint8Array): void {
    if (this.done) return;
    const down = this.down;
    if (down.closed || down.localEnded) {
      this.finish(GrpcStatus.CANCELLED);
      return;
    }
    const msg = Buffer.from(toBinary(EmbedArrowResponseSchema, create(EmbedArrowResponseSchema, { arrowIpc: ipc })));
    const headers = [":status", "200", "content-type", "application/grpc"];
    if (this.replica !== null) addServedBy(headers, this.replica);
    down.conn.sendHeaders(down, headers, false);
    down.conn.sendData(down, frameMessage(msg, 0, msg.length), false);
    down.conn.sendHeaders(down, statusTrailers(GrpcStatus.OK, ""), true);
    this.finish(GrpcStatus.OK);
  }

  private fail(err: unknown): void {
    if (this.done) return;
    const e = err instanceof RouterError ? err : new RouterError(GrpcStatus.INTERNAL, "router error");
    if (!(err instanceof RouterError)) this.ctx.log.error({ err }, "unexpected error in EmbedArrow");
    this.batch?.cancel();
    sendStatus(this.down, e.code, e.message, this.replica);
    this.message = e.message;
    this.finish(e.code);
  }

  private finish(code: GrpcStatusCode): void {
    if (this.done) return;
    this.done = true;
    const metrics = this.ctx.metrics;
    metrics.record(metrics.forCall(this.replica, this.method), code, (performance.now() - this.call.startedAt) / 1000);
    metrics.callEnded();
    endCall(this.call, code);
    this.span?.end({ code, message: this.message, replica: this.replica, retried: false });
  }
}
