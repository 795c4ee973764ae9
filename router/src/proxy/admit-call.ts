/**
 * Admitting a call that arrived on a client's HTTP/2 stream: runs the admission chain, then
 * forwards the call (proxy-call.ts), refuses it (call-refusal.ts), or, when a step has to wait,
 * makes it wait without reading it.
 *
 * A waiting call's request bytes are held as they arrive and not credited, so the client's
 * flow-control windows (what the router grants: 4 MiB per stream, 32 MiB per connection) bound
 * what waits in memory and stop the client; once admitted, they reach the proxy call as if they
 * had just arrived. The sync path allocates nothing for this.
 */
import { performance } from "node:perf_hooks";
import { type Admission, type AdmissionCall, abandonCall, endCall, runAdmission } from "../admission/admission.ts";
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import type { H2Stream, StreamHandler } from "../h2/index.ts";
import { UNKNOWN_METHOD } from "../tei/method-table.ts";
import { refuseCall } from "./call-refusal.ts";
import { startCall } from "./proxy-call.ts";
import type { ProxyContext } from "./proxy-context.ts";

/**
 * Runs `ctx.admission` on a call and acts on the decision.
 * @param endStream - the request ended with its headers
 */
export function admitCall(ctx: ProxyContext, stream: H2Stream, call: AdmissionCall, endStream: boolean): void {
  let decision: Admission;
  try {
    decision = runAdmission(ctx.admission, call);
  } catch (err) {
    decision = internal(ctx, err);
  }
  if (decision === undefined) forward(ctx, stream, call, endStream, null);
  else if (decision instanceof RouterError) refuseCall(ctx.metrics, stream, call, decision);
  else wait(ctx, stream, call, endStream, decision);
}

/** A step broke its contract (it threw): logged, and the call answered INTERNAL. */
function internal(ctx: ProxyContext, err: unknown): RouterError {
  ctx.log.error({ err }, "admission step failed");
  return new RouterError(GrpcStatus.INTERNAL, "router error");
}

/** Starts proxying an admitted call, handing it the request bytes that arrived while it waited. */
function forward(ctx: ProxyContext, stream: H2Stream, call: AdmissionCall, ended: boolean, held: Buffer[] | null): void {
  const method = call.method;
  if (method === undefined) {
    refuseCall(ctx.metrics, stream, call, internal(ctx, new Error(`admitted ${call.path} without a served method (served-method.ts missing from the chain)`)));
    return;
  }
  const n = held === null ? 0 : held.length;
  const handler = startCall(ctx, stream, call, method, ended && n === 0);
  for (let i = 0; i < n; i++) handler.onData(stream, (held as Buffer[])[i] as Buffer, ended && i === n - 1);
}

function wait(ctx: ProxyContext, stream: H2Stream, call: AdmissionCall, endStream: boolean, decision: Promise<RouterError | undefined>): void {
  const waiting = new WaitingCall(ctx, stream, call, endStream);
  stream.handler = waiting;
  decision
    .then(
      (d) => waiting.decided(d),
      (err: unknown) => waiting.decided(internal(ctx, err)),
    )
    .catch((err: unknown) => ctx.log.error({ err }, "admitting a call failed"));
}

/** The handler of a client stream while its call waits for admission. */
class WaitingCall implements StreamHandler {
  private readonly ctx: ProxyContext;
  private readonly stream: H2Stream;
  private readonly call: AdmissionCall;
  private readonly held: Buffer[] = [];
  private ended: boolean;
  private gone = false;

  constructor(ctx: ProxyContext, stream: H2Stream, call: AdmissionCall, ended: boolean) {
    this.ctx = ctx;
    this.stream = stream;
    this.call = call;
    this.ended = ended;
  }

  onHeaders(_stream: H2Stream, _headers: string[], endStream: boolean): void {
    if (endStream) this.ended = true; // request trailers: only their END_STREAM matters
  }

  onData(_stream: H2Stream, data: Buffer, endStream: boolean): void {
    this.held.push(data);
    if (endStream) this.ended = true;
  }

  onReset(): void {
    this.gone = true;
    abandonCall(this.call); // a queue lets it go now rather than at its turn
  }

  onDrain(): void {}

  /** The chain decided: forward the call, or refuse it. */
  decided(refusal: RouterError | undefined): void {
    const { ctx, stream, call } = this;
    if (this.gone) {
      // The client left while its call waited: nothing to answer, but counted, and the steps told.
      ctx.metrics.record(ctx.metrics.forCall(null, call.method ?? UNKNOWN_METHOD), GrpcStatus.CANCELLED, (performance.now() - call.startedAt) / 1000);
      endCall(call, GrpcStatus.CANCELLED);
      return;
    }
    if (refusal === undefined) {
      forward(ctx, stream, call, this.ended, this.held);
      return;
    }
    refuseCall(ctx.metrics, stream, call, refusal);
    let n = 0;
    for (const b of this.held) n += b.length;
    stream.conn.consume(stream, n);
  }
}
