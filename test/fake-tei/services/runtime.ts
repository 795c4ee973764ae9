/**
 * What every inference RPC shares: the concurrency permits (one semaphore of
 * --max-concurrent-requests counting inputs), TEI's validation and error codes, the injected
 * faults (crash, hang, slow), the simulated device (FAKE_TEI_COMPUTE_US_PER_TOKEN), the response
 * Metadata and x-compute-* headers, and the metrics.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { Metadata } from "@tei-fleet/proto/tei/v1";
import type { TeiArgs } from "../cli.ts";
import type { Faults } from "../faults.ts";
import type { HealthState } from "../health.ts";
import { panicAbort } from "../log.ts";
import type { ModelSpec } from "../models.ts";
import type { TeiMetrics } from "../prometheus.ts";
import { codePointCount, truncateText } from "../tokenizer.ts";
import { Device } from "./device.ts";

/** Failure label of te_request_failure{err=...}. */
export type FailureKind = "overloaded" | "validation" | "batch_size" | "model_type" | "tokenization" | "inference";

/** Per-request timings in milliseconds, measured from the request's arrival. */
export interface Timing {
  start: number;
  tokenization: number;
  queue: number;
  inference: number;
}

/** A tei.v1.Metadata as a plain object (every field set). */
export type MetadataInit = Omit<Metadata, "$typeName" | "$unknown">;

const ms = (t: number) => BigInt(Math.round(t * 1e6));

/** A counting semaphore whose waiters are served in arrival order. */
class Semaphore {
  private available: number;
  private readonly waiters: { n: number; resolve: () => void }[] = [];
  constructor(size: number) {
    this.available = size;
  }
  tryAcquire(n: number): boolean {
    if (this.waiters.length > 0 || this.available < n) return false;
    this.available -= n;
    return true;
  }
  acquire(n: number): Promise<void> {
    if (this.tryAcquire(n)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
  release(n: number): void {
    this.available += n;
    while (this.waiters.length > 0 && this.available >= (this.waiters[0] as { n: number }).n) {
      const w = this.waiters.shift() as { n: number; resolve: () => void };
      this.available -= w.n;
      w.resolve();
    }
  }
}

/** Options of the runtime, all owned by main. */
export interface RuntimeOptions {
  args: TeiArgs;
  model: ModelSpec;
  /** Effective max_input_length (the model's, capped by --max-batch-tokens). */
  maxInputLength: number;
  faults: Faults;
  metrics: TeiMetrics;
  health: HealthState;
}

/** Shared state and helpers of the tei.v1 service implementations. */
export class Runtime {
  readonly args: TeiArgs;
  readonly model: ModelSpec;
  readonly maxInputLength: number;
  readonly metrics: TeiMetrics;
  readonly health: HealthState;
  private readonly faults: Faults;
  private readonly permits: Semaphore;
  /** The simulated device, when FAKE_TEI_COMPUTE_US_PER_TOKEN is set. */
  private readonly device: Device | undefined;
  private requests = 0;

  constructor(options: RuntimeOptions) {
    this.args = options.args;
    this.model = options.model;
    this.maxInputLength = options.maxInputLength;
    this.faults = options.faults;
    this.metrics = options.metrics;
    this.health = options.health;
    this.permits = new Semaphore(options.args.maxConcurrentRequests);
    const { computeUsPerToken, computeBatchFloorUs } = options.faults;
    this.device =
      computeUsPerToken > 0 || computeBatchFloorUs > 0
        ? new Device({
            usPerToken: computeUsPerToken,
            batchFloorUs: computeBatchFloorUs,
            maxBatchTokens: options.args.maxBatchTokens,
            maxBatchRequests: options.args.maxBatchRequests,
            onBatch: (items, tokens) => {
              this.metrics.observe("te_batch_next_size", items);
              this.metrics.observe("te_batch_next_tokens", tokens);
              this.metrics.set("te_queue_size", this.device?.queued ?? 0);
            },
          })
        : undefined;
  }

  /** A ConnectError that is also counted in te_request_failure. */
  fail(kind: FailureKind, code: Code, message: string): ConnectError {
    this.metrics.inc("te_request_failure", `err="${kind}"`);
    return new ConnectError(message, code);
  }

  /**
   * Admits one inference request (a unary call or one stream item) through the injected faults:
   * abort the process once the crash budget is spent, or never answer once the hang budget is.
   */
  async admit(ctx: HandlerContext): Promise<void> {
    const n = ++this.requests;
    const { crashAfterRequests, hangAfterRequests } = this.faults;
    if (crashAfterRequests !== undefined && n > crashAfterRequests) {
      panicAbort("core/src/infer.rs:331:14", `FAKE_TEI_CRASH_AFTER_REQUESTS=${crashAfterRequests}: injected backend panic`);
    }
    if (hangAfterRequests !== undefined && n > hangAfterRequests) {
      // Stay silent until the client gives up; only its cancel or deadline releases the call.
      await new Promise<never>((_resolve, reject) =>
        ctx.signal.addEventListener("abort", () => reject(new ConnectError("request cancelled", Code.Canceled)), { once: true }),
      );
    }
  }

  /** Non-blocking permit for unary Embed/EmbedSparse/EmbedAll/Predict/PredictPair. */
  tryPermit(): void {
    if (!this.permits.tryAcquire(1)) throw this.fail("overloaded", Code.ResourceExhausted, "Model is overloaded");
  }

  /** Blocking permit(s) for Rerank and every *Stream RPC (backpressure instead of errors). */
  waitPermit(n = 1): Promise<void> {
    return this.permits.acquire(n);
  }

  /** Returns permits. */
  releasePermit(n = 1): void {
    this.permits.release(n);
  }

  /** TEI panics on an unknown truncation direction (`expect("Unexpected enum value")`). */
  checkDirection(direction: number): void {
    if (direction !== 0 && direction !== 1) {
      panicAbort("router/src/grpc/server.rs:1533:51", `Unexpected enum value: UnknownEnumValue(${direction})`);
    }
  }

  /**
   * Validates and truncates one input like TEI's tokenization step: empty is INVALID_ARGUMENT,
   * too long without `truncate` is INVALID_ARGUMENT. `extraTokens` counts the special tokens
   * and, for pairs, the other text. Returns the text that reaches the model and its tokens.
   */
  tokenize(text: string, truncate: boolean, direction: number, extraTokens = 2): { text: string; tokens: number } {
    if (text.length === 0) throw this.fail("validation", Code.InvalidArgument, "`inputs` cannot be empty");
    const tokens = codePointCount(text) + extraTokens;
    if (tokens <= this.maxInputLength) return { text, tokens };
    if (!truncate) {
      throw this.fail(
        "validation",
        Code.InvalidArgument,
        `Input validation error: \`inputs\` must have less than ${this.maxInputLength} tokens. Given: ${tokens}`,
      );
    }
    const kept = truncateText(text, this.maxInputLength - extraTokens + 2, direction === 1);
    return { text: kept, tokens: this.maxInputLength };
  }

  /** Holds the request for FAKE_TEI_SLOW_MS. */
  private slow(): Promise<void> | undefined {
    const delay = this.faults.slowMs;
    return delay > 0 ? new Promise((resolve) => setTimeout(resolve, delay)) : undefined;
  }

  /**
   * The simulated forward pass of one tokenized item: its turn on the device (queued, then
   * batched with whatever else is queued) when FAKE_TEI_COMPUTE_US_PER_TOKEN is set, then
   * FAKE_TEI_SLOW_MS. Resolves with the time in ms the caller must not count as inference: the
   * wait for the device (`queue`, which TEI reports as queue time) and how late the timer
   * delivered the batch's end (`late`: machine load, not device time; it still counts in the
   * total). Both 0 without a device.
   */
  async forward(tokens: number): Promise<{ queue: number; late: number }> {
    let wait = { queue: 0, late: 0 };
    if (this.device !== undefined) {
      const t0 = performance.now();
      const d = await this.device.run(tokens);
      wait = { queue: d.queue, late: Math.max(0, performance.now() - t0 - d.queue - d.inference) };
    }
    await this.slow();
    return wait;
  }

  /**
   * Admits one inference item and takes its permit: waited for in streams (`wait`), taken
   * without waiting in unary calls (RESOURCE_EXHAUSTED when none is free). Returns its clock with
   * the queue time set; the caller must releasePermit() when done.
   */
  async acquire(ctx: HandlerContext, wait: boolean): Promise<Timing> {
    await this.admit(ctx);
    const t = this.startTiming();
    if (wait) await this.waitPermit();
    else this.tryPermit();
    t.queue = performance.now() - t.start;
    return t;
  }

  /** Starts the clock of one request. */
  startTiming(): Timing {
    return { start: performance.now(), tokenization: 0, queue: 0, inference: 0 };
  }

  /** The Metadata message of a finished request, recording TEI's request histograms. */
  finish(t: Timing, chars: number, tokens: number, family: "te_embed" | "te_predict"): MetadataInit {
    const total = performance.now() - t.start;
    const seconds = { total: total / 1000, tokenization: t.tokenization / 1000, queue: t.queue / 1000, inference: t.inference / 1000 };
    this.metrics.timings("te_request", seconds);
    this.metrics.timings(family, seconds);
    this.metrics.inc(`${family}_success`);
    this.metrics.observe("te_request_input_length", tokens);
    if (this.device === undefined) {
      // Without the device every item is its own batch; with it, the device observes batches.
      this.metrics.observe("te_batch_next_size", 1);
      this.metrics.observe("te_batch_next_tokens", tokens);
    }
    return {
      computeChars: chars,
      computeTokens: tokens,
      totalTimeNs: ms(total),
      tokenizationTimeNs: ms(t.tokenization),
      queueTimeNs: ms(t.queue),
      inferenceTimeNs: ms(t.inference),
    };
  }

  /**
   * Runs one unary "single" inference RPC as TEI accounts for it: counts the request (`weight`
   * times: TEI counts some RPCs twice), counts its success, and sets TEI's response headers.
   */
  async single<R extends { metadata?: MetadataInit }>(ctx: HandlerContext, run: () => Promise<R>, weight = 1): Promise<R> {
    this.metrics.inc("te_request_count", `method="single"`, weight);
    const res = await run();
    this.metrics.inc("te_request_success", `method="single"`);
    if (res.metadata) this.setHeaders(ctx, res.metadata);
    return res;
  }

  /** TEI's response headers of unary inference RPCs (times in milliseconds). */
  setHeaders(ctx: HandlerContext, m: MetadataInit): void {
    const h = ctx.responseHeader;
    const total = String(m.totalTimeNs / 1_000_000n);
    h.set("x-compute-type", "gpu+optimized");
    h.set("x-compute-time", total);
    h.set("x-compute-characters", String(m.computeChars));
    h.set("x-compute-tokens", String(m.computeTokens));
    h.set("x-total-time", total);
    h.set("x-tokenization-time", String(m.tokenizationTimeNs / 1_000_000n));
    h.set("x-queue-time", String(m.queueTimeNs / 1_000_000n));
    h.set("x-inference-time", String(m.inferenceTimeNs / 1_000_000n));
  }
}

/**
 * Runs a bidirectional stream TEI's way: every item is processed concurrently, responses come
 * back in request order, and the first failing item ends the stream with its status.
 */
export async function* orderedStream<Req, Res>(requests: AsyncIterable<Req>, handle: (req: Req) => Promise<Res>): AsyncGenerator<Res> {
  const pending: Promise<Res>[] = [];
  let finished = false;
  let readError: unknown;
  let wake: (() => void) | undefined;
  void (async () => {
    try {
      for await (const req of requests) {
        const p = handle(req);
        p.catch(() => {}); // surfaced when its turn comes; avoid unhandled rejections meanwhile
        pending.push(p);
        wake?.();
      }
    } catch (err) {
      readError = err;
    } finally {
      finished = true;
      wake?.();
    }
  })();
  for (;;) {
    const next = pending.shift();
    if (next) {
      yield await next;
      continue;
    }
    if (readError !== undefined) throw readError;
    if (finished) return;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  }
}
