/**
 * The simulated accelerator behind FAKE_TEI_COMPUTE_US_PER_TOKEN: one device per process that
 * runs one batch at a time, as TEI's backend thread does (tei.md §1.6, core/src/queue.rs +
 * core/src/infer.rs). Items (one input, one pair, one rerank text) wait in a FIFO queue; when the
 * device is free, the next batch takes queued items in order while their tokens fit in
 * --max-batch-tokens and their count in --max-batch-requests (always at least one item), and
 * "runs" for max(floor, tokens × µs per token). So a replica's throughput is bounded in tokens per
 * second however many calls it gets, concurrent calls queue, and twice the tokens cost twice the
 * time: what the gateway's batch splitting across replicas has to beat.
 *
 * Time is kept on a virtual clock (the end of the previous batch), so the ~1 ms granularity and
 * lateness of timers delay answers a little but never accumulate into lost device time.
 */

/** Settings of the device. */
export interface DeviceOptions {
  /** Simulated compute time per token in µs (> 0; 0 means no device at all). */
  usPerToken: number;
  /** Minimum time of one batch in µs, however few tokens it has (kernel launches). Default 0. */
  batchFloorUs?: number;
  /** --max-batch-tokens: a batch never holds more tokens, unless a single item has them. */
  maxBatchTokens: number;
  /** --max-batch-requests: a batch never holds more items (undefined: no limit). */
  maxBatchRequests?: number;
  /** Observes each batch (te_batch_next_size / te_batch_next_tokens). */
  onBatch?: (items: number, tokens: number) => void;
}

/** What one item's run through the device took, in milliseconds. */
export interface DeviceTiming {
  /** From entering the queue to the start of its batch. */
  queue: number;
  /** Its batch's compute time. */
  inference: number;
}

interface Item {
  tokens: number;
  enqueued: number;
  resolve: (t: DeviceTiming) => void;
}

/** One simulated device: a FIFO queue in front of one batch at a time. */
export class Device {
  private readonly queue: Item[] = [];
  /** Virtual time (performance.now() ms) at which the current or last batch ends. */
  private busyUntil = 0;
  private running = false;
  private readonly options: DeviceOptions;

  constructor(options: DeviceOptions) {
    this.options = options;
  }

  /** Queues an item of `tokens` tokens; resolves when its batch has "run". */
  run(tokens: number): Promise<DeviceTiming> {
    return new Promise((resolve) => {
      this.queue.push({ tokens, enqueued: performance.now(), resolve });
      if (!this.running) this.next();
    });
  }

  /** Items waiting for the device (te_queue_size). */
  get queued(): number {
    return this.queue.length;
  }

  /** Takes the next batch off the queue and schedules its completion. */
  private next(): void {
    if (this.queue.length === 0) {
      this.running = false;
      return;
    }
    const { usPerToken, batchFloorUs = 0, maxBatchTokens, maxBatchRequests } = this.options;
    const batch: Item[] = [];
    let tokens = 0;
    for (const item of this.queue) {
      if (batch.length > 0 && (tokens + item.tokens > maxBatchTokens || (maxBatchRequests !== undefined && batch.length >= maxBatchRequests))) break;
      batch.push(item);
      tokens += item.tokens;
    }
    this.queue.splice(0, batch.length);
    const now = performance.now();
    // The batch starts when the device came free, or when its last item arrived if that was
    // later; never after `now`, where the late timer callback happens to run.
    const lastArrival = Math.max(...batch.map((i) => i.enqueued));
    const start = Math.max(this.busyUntil, Math.min(now, lastArrival));
    const inference = Math.max(batchFloorUs, tokens * usPerToken) / 1000;
    this.busyUntil = start + inference;
    this.running = true;
    this.options.onBatch?.(batch.length, tokens);
    atOrAfter(this.busyUntil, () => {
      for (const item of batch) item.resolve({ queue: start - item.enqueued, inference });
      this.next();
    });
  }
}

/**
 * Runs `fn` once performance.now() has reached `deadline`. Node's timers count whole
 * milliseconds of libuv's clock, so a plain setTimeout can fire up to ~1 ms before the
 * deadline on performance.now(): a batch would end early and report less than its compute time.
 */
function atOrAfter(deadline: number, fn: () => void): void {
  const left = deadline - performance.now();
  if (left <= 0) fn();
  else setTimeout(() => atOrAfter(deadline, fn), Math.ceil(left));
}
