/**
 * What the gateway knows of each model beyond the route table, learned from TEI: its
 * `max_client_batch_size` and type (from `Info`, asked once per model in the background) and
 * its embedding size (from its first dense answer, so `dimensions` above it is refused before
 * inference, as TEI itself only refuses it after).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { type InfoResponse, InfoResponseSchema } from "@tei-fleet/proto/tei/v1";
import type { AttemptContext } from "../proxy/attempt-contract.ts";
import { METHODS, type MethodSpec } from "../tei/method-table.ts";
import type { Target } from "../tei/target.ts";
import { INFO_REQUEST } from "./grpc-request.ts";
import type { ResolvedModel } from "./model-resolver.ts";
import { TeiBatch } from "./tei-batch.ts";

/** TEI's default `--max-client-batch-size`, used until a model's Info answers. */
export const DEFAULT_CLIENT_BATCH = 32;

/** The Info method. */
export const INFO_METHOD = METHODS.get("/tei.v1.Info/Info") as MethodSpec;

/** Metadata of the gateway's own calls (no client headers to pass on). */
export const GRPC_HEADERS: readonly string[] = ["content-type", "application/grpc"];

interface Known {
  info: InfoResponse | null;
  fetching: boolean;
  /** Epoch ms of the last fetch attempt (a failed one is retried after a while). */
  askedAt: number;
  dims: number;
  /** Who waits for the fetch under way (withInfo). */
  waiting: ((info: InfoResponse | null) => void)[];
}

/** Per-model facts, keyed by model id. */
export class ModelInfoCache {
  private readonly ctx: AttemptContext;
  private readonly known = new Map<string, Known>();

  constructor(ctx: AttemptContext) {
    this.ctx = ctx;
  }

  private entry(m: ResolvedModel): Known {
    const key = m.modelId;
    let k = this.known.get(key);
    if (k === undefined) {
      k = { info: null, fetching: false, askedAt: 0, dims: 0, waiting: [] };
      this.known.set(key, k);
    }
    return k;
  }

  /** The inputs one TEI call of the model may carry (Rerank texts); asks Info when unknown. */
  clientBatch(m: ResolvedModel): number {
    // A name the route table does not know is not remembered (clients make names up).
    if (m.modelId === "") return DEFAULT_CLIENT_BATCH;
    const k = this.entry(m);
    if (k.info !== null) return k.info.maxClientBatchSize || DEFAULT_CLIENT_BATCH;
    if (!k.fetching && Date.now() - k.askedAt > 5000) this.fetch(m.target, k);
    return DEFAULT_CLIENT_BATCH;
  }

  /**
   * Runs `then` with the model's Info: at once when known, else once a replica answered (null
   * when it could not: the defaults apply). For routes whose TEI calls carry several inputs
   * (Rerank's texts), which TEI refuses beyond its `max_client_batch_size`.
   */
  withInfo(m: ResolvedModel, then: (info: InfoResponse | null) => void): void {
    if (m.modelId === "") {
      then(null);
      return;
    }
    const k = this.entry(m);
    if (k.info !== null) {
      then(k.info);
      return;
    }
    k.waiting.push(then);
    if (!k.fetching) this.fetch(m.target, k);
  }

  /** The model's Info once a replica answered it (null: not yet). */
  infoOf(m: ResolvedModel): InfoResponse | null {
    return m.modelId === "" ? null : this.entry(m).info;
  }

  /** Keeps an Info answer of the model (from the `/info` route, or a route that had to ask). */
  learnInfo(m: ResolvedModel, info: InfoResponse): void {
    if (m.modelId !== "") this.entry(m).info = info;
  }

  /** The model's embedding size once seen (0: not yet). */
  dims(m: ResolvedModel): number {
    return m.modelId === "" ? 0 : this.entry(m).dims;
  }

  /** Notes the size of a full (not `dimensions`-shortened) embedding of the model. */
  learnDims(m: ResolvedModel, n: number): void {
    if (m.modelId !== "") this.entry(m).dims = n;
  }

  private fetch(target: Target, k: Known): void {
    k.fetching = true;
    k.askedAt = Date.now();
    const batch = new TeiBatch(
      { ctx: this.ctx, method: INFO_METHOD, target, headers: GRPC_HEADERS, startedAt: performance.now(), window: 1 },
      [INFO_REQUEST],
      (b) => {
        k.fetching = false;
        if (b.error === null) {
          try {
            k.info = fromBinary(InfoResponseSchema, b.answers[0] as Buffer);
          } catch {
            /* an unreadable Info: defaults stay */
          }
        }
        const waiting = k.waiting;
        k.waiting = [];
        for (const w of waiting) w(k.info);
      },
    );
    batch.start();
  }
}
