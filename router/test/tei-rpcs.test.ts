import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed, Info, Predict, Rerank, Tokenize } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeTeiProcess, startFakeTei } from "./support/fake-tei.ts";
import { type RouterFixture, route, startRouter } from "./support/router-fixture.ts";

// One fake TEI per model type, so that every RPC gets a real answer rather than FAILED_PRECONDITION.
const MODELS = {
  embed: "BAAI/bge-small-en-v1.5",
  sparse: "naver/splade-cocondenser-ensembledistil",
  rerank: "BAAI/bge-reranker-base",
  classify: "SamLowe/roberta-base-go_emotions",
} as const;
type Inst = keyof typeof MODELS;

const teis = new Map<Inst, FakeTeiProcess>();
let fx: RouterFixture;
let mux: Client<typeof TeiMultiplexer>;

beforeAll(async () => {
  const started = await Promise.all((Object.keys(MODELS) as Inst[]).map(async (k) => [k, await startFakeTei(MODELS[k])] as const));
  for (const [k, t] of started) teis.set(k, t);
  fx = await startRouter(started.map(([k, t]) => route(k, t.address, { modelId: MODELS[k], node: `node-${k}` })));
  mux = fx.client(TeiMultiplexer);
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await Promise.all([...teis.values()].map((t) => t.kill()));
});

/** Zeroes timing fields, which differ between any two calls. */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = k.endsWith("TimeNs") ? 0n : normalize(x);
    return out;
  }
  return v;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* each<T>(xs: T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}

/** A call made three ways: directly against the instance's TEI, as plain tei.v1 through the router, and through the multiplexer. */
interface Case {
  inst: Inst;
  direct(c: Clients): Promise<unknown>;
  plain(c: Clients, h: Record<string, string>): Promise<unknown>;
  mux(m: Client<typeof TeiMultiplexer>, target: { routing: { case: "instanceName"; value: string } }): Promise<unknown>;
}
interface Clients {
  info: Client<typeof Info>;
  embed: Client<typeof Embed>;
  predict: Client<typeof Predict>;
  rerank: Client<typeof Rerank>;
  tokenize: Client<typeof Tokenize>;
}
function clients(baseUrl: string): Clients {
  const t = createGrpcTransport({ baseUrl });
  return {
    info: createClient(Info, t),
    embed: createClient(Embed, t),
    predict: createClient(Predict, t),
    rerank: createClient(Rerank, t),
    tokenize: createClient(Tokenize, t),
  };
}

const texts = ["What is Deep Learning?", "Routers forward bytes", "third"];
const embedReq = (inputs: string) => ({ inputs, truncate: true, normalize: true });

function unary<R>(
  inst: Inst,
  req: R,
  pick: (c: Clients) => (r: R, o?: { headers: Record<string, string> }) => Promise<unknown>,
  muxPick: (m: Client<typeof TeiMultiplexer>) => (r: never) => Promise<unknown>,
): Case {
  return {
    inst,
    direct: (c) => pick(c)(req),
    plain: (c, headers) => pick(c)(req, { headers }),
    mux: (m, target) => muxPick(m)({ target, request: req } as never),
  };
}
function bidi<R>(
  inst: Inst,
  reqs: R[],
  pick: (c: Clients) => (r: AsyncIterable<R>, o?: { headers: Record<string, string> }) => AsyncIterable<unknown>,
  muxPick: (m: Client<typeof TeiMultiplexer>) => (r: AsyncIterable<never>) => AsyncIterable<unknown>,
): Case {
  const wrapped = (target: unknown) => reqs.map((request, i) => (i === 0 ? { target, request } : { request }) as never);
  return {
    inst,
    direct: (c) => collect(pick(c)(each(reqs))),
    plain: (c, headers) => collect(pick(c)(each(reqs), { headers })),
    mux: (m, target) => collect(muxPick(m)(each(wrapped(target)))),
  };
}

const CASES: Record<string, Case> = {
  Info: { inst: "embed", direct: (c) => c.info.info({}), plain: (c, headers) => c.info.info({}, { headers }), mux: (m, target) => m.info({ target }) },
  Embed: unary(
    "embed",
    embedReq(texts[0]!),
    (c) => c.embed.embed,
    (m) => m.embed,
  ),
  EmbedStream: bidi(
    "embed",
    texts.map(embedReq),
    (c) => c.embed.embedStream,
    (m) => m.embedStream,
  ),
  EmbedSparse: unary(
    "sparse",
    { inputs: texts[0]!, truncate: true },
    (c) => c.embed.embedSparse,
    (m) => m.embedSparse,
  ),
  EmbedSparseStream: bidi(
    "sparse",
    texts.map((inputs) => ({ inputs })),
    (c) => c.embed.embedSparseStream,
    (m) => m.embedSparseStream,
  ),
  EmbedAll: unary(
    "embed",
    { inputs: texts[1]! },
    (c) => c.embed.embedAll,
    (m) => m.embedAll,
  ),
  EmbedAllStream: bidi(
    "embed",
    texts.map((inputs) => ({ inputs })),
    (c) => c.embed.embedAllStream,
    (m) => m.embedAllStream,
  ),
  Predict: unary(
    "classify",
    { inputs: "I love this", rawScores: false },
    (c) => c.predict.predict,
    (m) => m.predict,
  ),
  PredictPair: unary(
    "classify",
    { inputs: ["I love this", "so much"] },
    (c) => c.predict.predictPair,
    (m) => m.predictPair,
  ),
  PredictStream: bidi(
    "classify",
    texts.map((inputs) => ({ inputs })),
    (c) => c.predict.predictStream,
    (m) => m.predictStream,
  ),
  PredictPairStream: bidi(
    "classify",
    [{ inputs: ["a", "b"] }, { inputs: ["c"] }],
    (c) => c.predict.predictPairStream,
    (m) => m.predictPairStream,
  ),
  Rerank: unary(
    "rerank",
    { query: "what is deep learning", texts, returnText: true },
    (c) => c.rerank.rerank,
    (m) => m.rerank,
  ),
  Tokenize: unary(
    "embed",
    { inputs: texts[0]!, addSpecialTokens: true },
    (c) => c.tokenize.tokenize,
    (m) => m.tokenize,
  ),
  TokenizeStream: bidi(
    "embed",
    texts.map((inputs) => ({ inputs })),
    (c) => c.tokenize.tokenizeStream,
    (m) => m.tokenizeStream,
  ),
  Decode: unary(
    "embed",
    { ids: [101, 2054, 2003, 102], skipSpecialTokens: true },
    (c) => c.tokenize.decode,
    (m) => m.decode,
  ),
  DecodeStream: bidi(
    "embed",
    [{ ids: [101, 2054] }, { ids: [2003, 102] }],
    (c) => c.tokenize.decodeStream,
    (m) => m.decodeStream,
  ),
  RerankStream: {
    inst: "rerank",
    direct: (c) => c.rerank.rerankStream(each(texts.map((text) => ({ query: "q", text, returnText: true })))),
    plain: (c, headers) => c.rerank.rerankStream(each(texts.map((text) => ({ query: "q", text, returnText: true }))), { headers }),
    mux: (m, target) =>
      m.rerankStream(
        each(
          texts.map((text, i) => (i === 0 ? { target, request: { query: "q", text, returnText: true } } : { request: { query: "q", text, returnText: true } })),
        ),
      ),
  },
};

describe("every TEI RPC through the router equals the direct answer", () => {
  test("the case list covers all 17 RPCs", () => {
    const rpcs = [Info, Embed, Predict, Rerank, Tokenize].flatMap((s) => s.methods.map((m) => m.name)).sort();
    expect(Object.keys(CASES).sort()).toEqual(rpcs);
    expect(rpcs).toHaveLength(17);
  });

  test.each(Object.keys(CASES))("%s, as plain tei.v1 and through the multiplexer", async (rpc) => {
    const c = CASES[rpc]!;
    const direct = normalize(await c.direct(clients(`http://${teis.get(c.inst)!.address}`)));
    const plain = normalize(await c.plain(clients(fx.baseUrl), { "x-tei-instance": c.inst }));
    const viaMux = normalize(await c.mux(mux, { routing: { case: "instanceName", value: c.inst } }));
    expect(direct).toBeTruthy();
    expect(plain).toEqual(direct);
    expect(viaMux).toEqual(direct);
  });
});
