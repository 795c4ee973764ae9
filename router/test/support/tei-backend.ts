/**
 * A small in-process TEI stand-in for router unit tests, served by connect-node over h2c: all 17
 * tei.v1 RPCs with deterministic answers, TEI's response metadata headers, a count of open
 * streams (to see cancellations arrive) and a switch to answer UNAVAILABLE.
 */
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { Embed, Info, ModelType, Predict, Rerank, Tokenize } from "@tei-fleet/proto/tei/v1";
import { startConnectH2Server } from "./connect-h2-server.ts";

export interface TestBackend {
  readonly address: string;
  readonly name: string;
  /** Calls received, by method name. */
  readonly calls: Map<string, number>;
  /** Streams currently open in handlers. */
  openStreams: number;
  /** The most unary Embed calls in a handler at once, since the backend started. */
  readonly maxConcurrentEmbeds: number;
  /** When set, every call fails with UNAVAILABLE. */
  unavailable: boolean;
  /** Delay before unary Embed answers (honours cancellation). */
  delayMs: number;
  /** Delay before a unary Embed answers UNAVAILABLE (while `unavailable` is set). */
  failDelayMs: number;
  /** Request headers of the last unary Embed. */
  lastHeaders: Headers | undefined;
  close(): Promise<void>;
}

function vector(text: string, dims = 8): number[] {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  const out: number[] = [];
  for (let i = 0; i < dims; i++) {
    h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
    out.push((h % 2000) / 1000 - 1);
  }
  return out;
}

function meta(ctx: HandlerContext, text: string) {
  ctx.responseHeader.set("x-compute-type", "gpu+optimized");
  ctx.responseHeader.set("x-compute-characters", String(text.length));
  return {
    computeChars: text.length,
    computeTokens: text.split(" ").length,
    totalTimeNs: 1000n,
    tokenizationTimeNs: 10n,
    queueTimeNs: 20n,
    inferenceTimeNs: 30n,
  };
}

export async function startTestBackend(name: string, model = "BAAI/bge-small-en-v1.5"): Promise<TestBackend> {
  const state = { openStreams: 0, unavailable: false, delayMs: 0, failDelayMs: 0, lastHeaders: undefined as Headers | undefined, embeds: 0, maxEmbeds: 0 };
  const calls = new Map<string, number>();
  const count = (m: string): void => {
    calls.set(m, (calls.get(m) ?? 0) + 1);
    if (state.unavailable) throw new ConnectError("Model is not healthy", Code.Unavailable);
  };
  const check = (text: string): void => {
    if (text === "") throw new ConnectError("`inputs` cannot be empty", Code.InvalidArgument);
  };
  async function* streamOf<I, O>(m: string, reqs: AsyncIterable<I>, f: (r: I) => O): AsyncGenerator<O> {
    count(m);
    state.openStreams++;
    try {
      for await (const r of reqs) yield f(r);
    } finally {
      state.openStreams--;
    }
  }
  const routes = (router: ConnectRouter): void => {
    router.service(Info, {
      info() {
        count("Info");
        return {
          version: "1.9.3",
          modelId: model,
          modelDtype: "float16",
          modelType: ModelType.EMBEDDING,
          maxConcurrentRequests: 512,
          maxInputLength: 512,
          maxBatchTokens: 16384,
          maxClientBatchSize: 32,
          tokenizationWorkers: 2,
          dockerLabel: name,
        };
      },
    });
    router.service(Embed, {
      async embed(r, ctx) {
        if (state.unavailable && state.failDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.failDelayMs));
        count("Embed");
        state.lastHeaders = ctx.requestHeader;
        state.maxEmbeds = Math.max(state.maxEmbeds, ++state.embeds);
        try {
          if (state.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.delayMs));
        } finally {
          state.embeds--;
        }
        check(r.inputs);
        return { embeddings: vector(r.inputs), metadata: meta(ctx, r.inputs) };
      },
      embedStream: (reqs) => streamOf("EmbedStream", reqs, (r) => ({ embeddings: vector(r.inputs) })),
      embedSparse(r, ctx) {
        count("EmbedSparse");
        return { sparseEmbeddings: vector(r.inputs, 3).map((v, i) => ({ index: i * 7, value: Math.abs(v) })), metadata: meta(ctx, r.inputs) };
      },
      embedSparseStream: (reqs) => streamOf("EmbedSparseStream", reqs, (r) => ({ sparseEmbeddings: [{ index: r.inputs.length, value: 0.5 }] })),
      embedAll(r, ctx) {
        count("EmbedAll");
        return { tokenEmbeddings: r.inputs.split(" ").map((t) => ({ embeddings: vector(t, 4) })), metadata: meta(ctx, r.inputs) };
      },
      embedAllStream: (reqs) => streamOf("EmbedAllStream", reqs, (r) => ({ tokenEmbeddings: [{ embeddings: vector(r.inputs, 4) }] })),
    });
    router.service(Predict, {
      predict(r, ctx) {
        count("Predict");
        return { predictions: [{ score: 0.9, label: `pos:${r.inputs}` }], metadata: meta(ctx, r.inputs) };
      },
      predictPair(r, ctx) {
        count("PredictPair");
        if (r.inputs.length < 1 || r.inputs.length > 2) throw new ConnectError("`inputs` must have 1 or 2 elements", Code.InvalidArgument);
        return { predictions: [{ score: 0.5, label: r.inputs.join("|") }], metadata: meta(ctx, r.inputs.join("")) };
      },
      predictStream: (reqs) => streamOf("PredictStream", reqs, (r) => ({ predictions: [{ score: 0.1, label: r.inputs }] })),
      predictPairStream: (reqs) => streamOf("PredictPairStream", reqs, (r) => ({ predictions: [{ score: 0.2, label: r.inputs.join("|") }] })),
    });
    router.service(Rerank, {
      rerank(r, ctx) {
        count("Rerank");
        return { ranks: r.texts.map((t, i) => ({ index: i, score: 1 / (1 + i), text: r.returnText ? t : undefined })), metadata: meta(ctx, r.query) };
      },
      async rerankStream(reqs) {
        count("RerankStream");
        const ranks = [];
        let i = 0;
        for await (const r of reqs) ranks.push({ index: i++, score: r.text.length, text: r.returnText ? r.text : undefined });
        if (ranks.length === 0) throw new Error("test backend: empty RerankStream reached the backend");
        return { ranks };
      },
    });
    router.service(Tokenize, {
      tokenize(r) {
        count("Tokenize");
        return { tokens: r.inputs.split(" ").map((t, i) => ({ id: i + 100, text: t, special: false, start: i, stop: i + t.length })) };
      },
      tokenizeStream: (reqs) => streamOf("TokenizeStream", reqs, (r) => ({ tokens: [{ id: r.inputs.length, text: r.inputs, special: r.addSpecialTokens }] })),
      decode(r) {
        count("Decode");
        return { text: r.ids.join(",") };
      },
      decodeStream: (reqs) => streamOf("DecodeStream", reqs, (r) => ({ text: r.ids.join("+") })),
    });
  };
  const server = await startConnectH2Server(routes);
  const backend: TestBackend = {
    address: server.address,
    name,
    calls,
    get openStreams() {
      return state.openStreams;
    },
    get maxConcurrentEmbeds() {
      return state.maxEmbeds;
    },
    get unavailable() {
      return state.unavailable;
    },
    set unavailable(v: boolean) {
      state.unavailable = v;
    },
    get delayMs() {
      return state.delayMs;
    },
    get failDelayMs() {
      return state.failDelayMs;
    },
    set failDelayMs(v: number) {
      state.failDelayMs = v;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    get lastHeaders() {
      return state.lastHeaders;
    },
    close: () => server.close(),
  };
  return backend;
}
