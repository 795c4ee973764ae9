import { createRequire } from "node:module";
import { CohereRerank } from "@langchain/cohere";
import { Document } from "@langchain/core/documents";
import { OpenAIEmbeddings } from "@langchain/openai";
import { CohereClient as CohereClientV8 } from "cohere-ai";
import { NotFoundError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalFleet, startLocalFleet, waitFor } from "../harness/index.ts";

const EMBEDDER = "BAAI/bge-small-en-v1.5";
const RERANKER = "BAAI/bge-reranker-base";

/**
 * CohereRerank takes no base URL, only a ready `client`: the cohere-ai 7.x CohereClient that
 * @langchain/cohere depends on (what `import { CohereClient } from "cohere-ai"` gives a user
 * whose package manager hoists LangChain's copy), loaded here from LangChain's own location.
 */
type LangChainsCohereClient = NonNullable<NonNullable<ConstructorParameters<typeof CohereRerank>[0]>["client"]>;
const { CohereClient: CohereClientV7, CohereError: CohereErrorV7 } = createRequire(createRequire(import.meta.url).resolve("@langchain/cohere"))(
  "cohere-ai",
) as {
  CohereClient: new (options: { token: string; baseUrl: string }) => LangChainsCohereClient;
  CohereError: new (...args: never[]) => Error & { statusCode?: number; body?: unknown };
};

async function post<T>(url: string, body: unknown): Promise<T> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

describe("LangChain's CohereRerank and OpenAIEmbeddings against a router's HTTP gateway", () => {
  let fleet: LocalFleet;
  let http: string;

  /** TEI's own /rerank of the same query and texts, every text by score. */
  const teiRerank = (query: string, texts: string[]) => post<{ index: number; score: number }[]>(`${http}/rerank`, { model: RERANKER, query, texts });
  /** TEI's own /embed of the same texts. */
  const teiEmbed = (inputs: string[], dimensions?: number) => post<number[][]>(`${http}/m/${EMBEDDER}/embed`, { inputs, dimensions });
  /** Requests the gateway answered on `route` with `status`, from its tei_gateway_requests_total. */
  const answered = async (route: string, status: number): Promise<number> => {
    const text = await (await fetch(`${http}/metrics`)).text();
    let n = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith("tei_gateway_requests_total{") && line.includes(`route="${route}"`) && line.includes(`status="${status}"`))
        n += Number(line.split(" ").pop());
    }
    return n;
  };

  beforeAll(async () => {
    fleet = await startLocalFleet({ agents: 2, gateway: true });
    http = fleet.routers[0]?.httpUrl as string;
    expect((await fleet.api("POST", "/instances", { name: "small", model_id: EMBEDDER, replicas: 2, placement_policy: "spread" })).status).toBe(201);
    expect((await fleet.api("POST", "/instances", { name: "rr", model_id: RERANKER })).status).toBe(201);
    await waitFor(
      "both models serving through the gateway",
      async () => (await fetch(`${http}/m/${RERANKER}/health`)).status === 200 && (await fetch(`${http}/m/${EMBEDDER}/health`)).status === 200,
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  describe("CohereRerank (cohere-ai 7.x client, POST /v1/rerank)", () => {
    const query = "capital of France";
    // 40 texts: more than one TEI Rerank batch of 32, so the gateway splits and merges.
    const texts = Array.from({ length: 40 }, (_, i) => (i % 9 === 4 ? `Paris is the capital of France (${i})` : `bananas are yellow (${i})`));
    const relevant = texts.flatMap((t, i) => (/Paris/.test(t) ? [i] : []));
    const reranker = () => new CohereRerank({ model: RERANKER, client: new CohereClientV7({ token: "not-needed", baseUrl: http }) });

    it("rerank(): topN results by relevance, indices into the documents, scores equal to TEI's /rerank", async () => {
      const tei = await teiRerank(query, texts);
      const top3 = await reranker().rerank(texts, query);
      expect(top3).toHaveLength(3); // CohereRerank's default topN
      for (const r of top3) expect(relevant).toContain(r.index);
      expect(top3.map((r) => ({ index: r.index, score: r.relevanceScore }))).toEqual(tei.slice(0, 3));

      const all = await reranker().rerank(texts, query, { topN: texts.length });
      expect(all.map((r) => ({ index: r.index, score: r.relevanceScore }))).toEqual(tei);
      expect(all.slice(0, relevant.length).map((r) => r.index)).toEqual(expect.arrayContaining(relevant));
    });

    it("compressDocuments(): returns the caller's Documents, most relevant first, with relevanceScore in their metadata", async () => {
      const docs = texts.map((t, i) => new Document({ pageContent: t, metadata: { id: `doc-${i}` } }));
      const tei = await teiRerank(query, texts);
      const compressor = new CohereRerank({ model: RERANKER, topN: 2, client: new CohereClientV7({ token: "not-needed", baseUrl: http }) });
      const out = await compressor.compressDocuments(docs, query);
      expect(out).toHaveLength(2);
      for (const [k, d] of out.entries()) {
        const at = tei[k]?.index as number;
        expect(d).toBe(docs[at]);
        expect(d.metadata).toEqual({ id: `doc-${at}`, relevanceScore: tei[k]?.score });
        expect(d.pageContent).toMatch(/Paris/);
      }
      expect(await compressor.compressDocuments([], query)).toEqual([]);
    });

    it("works the same with a cohere-ai 8.x client passed in (what `pnpm add cohere-ai` installs next to it)", async () => {
      // @langchain/cohere types `client` as its own 7.x CohereClient (a protected `_options` makes
      // it nominal): an 8.x client needs a cast, and then works.
      const client = new CohereClientV8({ token: "not-needed", baseUrl: http }) as unknown as LangChainsCohereClient;
      const v8 = await new CohereRerank({ model: RERANKER, topN: 5, client }).rerank(texts, query);
      const v7 = await new CohereRerank({ model: RERANKER, topN: 5, client: new CohereClientV7({ token: "x", baseUrl: http }) }).rerank(texts, query);
      expect(v8).toHaveLength(5);
      expect(v8).toEqual(v7);
    });

    it("an unknown model is thrown once (no retry) as cohere-ai's 404 error, the gateway's message in its text", async () => {
      const before = await answered("/v1/rerank", 404);
      const err = await new CohereRerank({ model: "no-such-reranker", client: new CohereClientV7({ token: "x", baseUrl: http }) })
        .rerank(texts, query)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CohereErrorV7);
      expect((err as InstanceType<typeof CohereErrorV7>).statusCode).toBe(404);
      expect((err as InstanceType<typeof CohereErrorV7>).body).toMatchObject({ message: 'no instance serves model "no-such-reranker"' });
      expect((err as Error).message).toMatch(/^NotFoundError\nStatus code: 404\n[\s\S]*no-such-reranker/);
      expect(await answered("/v1/rerank", 404)).toBe(before + 1);
    });
  });

  describe("OpenAIEmbeddings (openai SDK, POST /v1/embeddings)", () => {
    const embeddings = (fields: Partial<ConstructorParameters<typeof OpenAIEmbeddings>[0]> = {}) =>
      new OpenAIEmbeddings({ model: EMBEDDER, apiKey: "not-needed", configuration: { baseURL: `${http}/v1` }, ...fields });

    it("embedQuery: TEI's /embed vector for the same text (base64 by default, float on request, model in the base URL)", async () => {
      const [tei] = await teiEmbed(["hello fleet"]);
      expect(tei).toHaveLength(384);
      expect(await embeddings().embedQuery("hello fleet")).toEqual(tei);
      expect(await embeddings({ encodingFormat: "float" }).embedQuery("hello fleet")).toEqual(tei);
      // The model named in the base URL wins over the body's, even LangChain's default model name.
      const byPath = new OpenAIEmbeddings({ apiKey: "not-needed", configuration: { baseURL: `${http}/m/${EMBEDDER}/v1` } });
      expect(await byPath.embedQuery("hello fleet")).toEqual(tei);
    });

    it("embedDocuments: 100 documents in one request (split by the gateway) and in batches of 7, in order", async () => {
      const docs = Array.from({ length: 100 }, (_, i) => `document number ${i}`);
      const tei = await teiEmbed(docs);
      expect(tei).toHaveLength(100);
      let before = await answered("/v1/embeddings", 200);
      expect(await embeddings().embedDocuments(docs)).toEqual(tei);
      expect(await answered("/v1/embeddings", 200)).toBe(before + 1); // LangChain's default batchSize is 512
      before = await answered("/v1/embeddings", 200);
      expect(await embeddings({ batchSize: 7 }).embedDocuments(docs)).toEqual(tei);
      expect(await answered("/v1/embeddings", 200)).toBe(before + Math.ceil(100 / 7));
    });

    it("strips newlines by default (the vector is TEI's for the text with spaces), keeps them with stripNewLines: false", async () => {
      const text = "first line\nsecond line";
      const [asIs, spaced] = await teiEmbed([text, "first line second line"]);
      expect(asIs).not.toEqual(spaced);
      expect(await embeddings().embedQuery(text)).toEqual(spaced);
      expect(await embeddings({ stripNewLines: false }).embedDocuments([text])).toEqual([asIs]);
    });

    it("dimensions: truncated and re-normalized vectors, equal to TEI's /embed with the same dimensions", async () => {
      const docs = ["one", "two", "three"];
      const tei = await teiEmbed(docs, 64);
      const full = await teiEmbed(docs);
      const out = await embeddings({ dimensions: 64 }).embedDocuments(docs);
      expect(out).toEqual(tei);
      for (const [k, v] of out.entries()) {
        expect(v).toHaveLength(64);
        expect(Math.hypot(...v)).toBeCloseTo(1, 6);
        // Matryoshka truncation: the first 64 values of the full vector, scaled back to unit length.
        const prefix = (full[k] as number[]).slice(0, 64);
        const scale = Math.hypot(...prefix);
        for (let j = 0; j < 64; j++) expect(v[j]).toBeCloseTo((prefix[j] as number) / scale, 6);
      }
    });

    it("a model the fleet does not serve (LangChain's default text-embedding-ada-002) is thrown once, not retried, with the gateway's 404", async () => {
      const before = await answered("/v1/embeddings", 404);
      const lc = new OpenAIEmbeddings({ apiKey: "not-needed", configuration: { baseURL: `${http}/v1` } });
      const err = await lc.embedQuery("hello").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as NotFoundError).code).toBe("model_not_found");
      expect((err as { lc_error_code?: string }).lc_error_code).toBe("MODEL_NOT_FOUND");
      expect((err as Error).message).toMatch(/^404 no instance serves model "text-embedding-ada-002"/);
      // LangChain's AsyncCaller retries 6 times with backoff, but not a 404.
      expect(await answered("/v1/embeddings", 404)).toBe(before + 1);
    });
  });
});
