import { CohereClient, CohereClientV2, CohereError } from "cohere-ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalFleet, startLocalFleet, waitFor } from "../harness/index.ts";

const RERANKER = "BAAI/bge-reranker-base";

describe("the fleet as a rerank service: Cohere's official client (v1 and v2) and TEI's /rerank through the gateway", () => {
  let fleet: LocalFleet;
  let http: string;
  const docs = Array.from({ length: 50 }, (_, i) => (i % 7 === 3 ? `Paris is the capital of France (${i})` : `bananas are yellow (${i})`));

  beforeAll(async () => {
    fleet = await startLocalFleet({ agents: 1, gateway: true });
    http = fleet.routers[0]?.httpUrl as string;
    expect((await fleet.api("POST", "/instances", { name: "rr", model_id: RERANKER })).status).toBe(201);
    await waitFor("the reranker serving through the gateway", async () => (await fetch(`${http}/m/${RERANKER}/health`)).status === 200, 60_000);
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  it("Cohere v2: top_n results by relevance, indices into all 50 documents (split in chunks of 32 and merged)", async () => {
    const client = new CohereClientV2({ token: "not-needed", baseUrl: http });
    const r = await client.rerank({ model: RERANKER, query: "capital of France", documents: docs, topN: 3 });
    expect(r.results).toHaveLength(3);
    for (const x of r.results) expect(docs[x.index]).toMatch(/Paris/);
    const scores = r.results.map((x) => x.relevanceScore);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    const tei = (await (
      await fetch(`${http}/rerank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: RERANKER, query: "capital of France", texts: docs }),
      })
    ).json()) as { index: number; score: number }[];
    expect(tei).toHaveLength(50);
    expect(r.results.map((x) => ({ index: x.index, score: x.relevanceScore }))).toEqual(tei.slice(0, 3));
  });

  it("Cohere v1: return_documents gives each result its text", async () => {
    const client = new CohereClient({ token: "not-needed", baseUrl: http });
    const r = await client.rerank({ model: RERANKER, query: "capital of France", documents: docs.slice(0, 10), topN: 2, returnDocuments: true });
    expect(r.results).toHaveLength(2);
    expect(r.results[0]?.document?.text).toBe(docs[r.results[0]?.index ?? -1]);
  });

  it("an unknown model surfaces as Cohere's error with a 404", async () => {
    const client = new CohereClientV2({ token: "x", baseUrl: http });
    const err = await client.rerank({ model: "nope", query: "q", documents: ["a"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CohereError);
    expect((err as CohereError).statusCode).toBe(404);
  });
});
