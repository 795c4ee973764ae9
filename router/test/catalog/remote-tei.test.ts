/**
 * Catalog backends of kind TEI and OpenAI reached over HTTP (the world is remote-tei-fixture.ts):
 * TEI's routes and the OpenAI / Cohere / Jina routes translated onto a TEI-kind remote answer what
 * the remote answers, its errors come back in each route's shape, and OpenAI-kind remotes serve
 * embeddings only. Trace context toward remotes is remote-tei-tracing.test.ts.
 */
import { create } from "@bufbuild/protobuf";
import { CatalogBackendSchema, RemoteBackendKind } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, test } from "vitest";
import {
  callsDuring,
  direct,
  downPort,
  expectKeyNeverLeaked,
  face,
  fleet,
  type Inst,
  KEY,
  LIMIT,
  lines,
  MODELS,
  remote,
  useRemoteTei,
  viaFleet,
} from "./remote-tei-fixture.ts";

useRemoteTei();

describe("TEI's routes through a TEI-kind remote answer what the remote answers", () => {
  test("/embed: the body as sent less `model`, the key upstream, the answer and TEI's headers passed back", async () => {
    const body = { inputs: ["hello", "world"], normalize: false, dimensions: 8, truncation_direction: "left" };
    let r!: Awaited<ReturnType<typeof viaFleet>>;
    const calls = await callsDuring(async () => {
      r = await viaFleet("/embed", { model: "far-embed", ...body });
    });
    const want = await direct("embed", "/embed", body);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(want.body);
    expect(r.headers.get("x-tei-backend")).toBe("far-embed");
    for (const h of ["x-compute-type", "x-compute-tokens", "x-compute-characters"]) expect(r.headers.get(h)).toBe(want.headers.get(h));
    for (const h of ["x-compute-time", "x-total-time", "x-queue-time", "x-inference-time", "x-tokenization-time"]) expect(r.headers.get(h)).toMatch(/^\d+$/);
    // (Two inputs: the remote's /info, for its batch size, may be asked first.)
    const embeds = calls.filter((c) => c.path !== "/info");
    expect(embeds).toHaveLength(1);
    expect(embeds[0]).toMatchObject({ method: "POST", inst: "embed", path: "/embed", body });
    expect(embeds[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(embeds[0]?.body).not.toHaveProperty("model");
  });

  test("a batch over the remote's max_client_batch_size (from its /info) is split as the local path does, answered in order", async () => {
    const inputs = Array.from({ length: 10 }, (_, i) => `text number ${i}`);
    let r!: Awaited<ReturnType<typeof viaFleet>>;
    const calls = await callsDuring(async () => {
      r = await viaFleet("/m/far-embed/embed", { inputs });
    });
    const want = await direct("embed", "/embed", { inputs });
    expect(r.status).toBe(200);
    expect(r.body).toEqual(want.body);
    expect(r.headers.get("x-compute-tokens")).toBe(want.headers.get("x-compute-tokens"));
    const embeds = calls.filter((c) => c.path === "/embed");
    expect(embeds.map((c) => (c.body?.inputs as string[] | undefined)?.length)).toEqual([4, 4, 2]);
    expect(embeds.flatMap((c) => c.body?.inputs as string[]).sort()).toEqual([...inputs].sort());
    // The remote's /info was asked once, and is kept: the next split asks nothing.
    expect(calls.filter((c) => c.path === "/info").length).toBeLessThanOrEqual(1);
    const again = await callsDuring(() => viaFleet("/m/far-embed/embed", { inputs }));
    expect(again.filter((c) => c.path === "/info")).toEqual([]);
    const metrics = await (await fetch(`${fleet.http}/metrics`)).text();
    expect(metrics).toMatch(/tei_gateway_batch_chunks_sum\{route="\/embed"\} [1-9]/);
  });

  test("a batch sent while the remote's /info cannot be read: its 422 names the limit, which is kept, and the request is split again", async () => {
    // Another base URL of the same remote (localhost, not 127.0.0.1): nothing is known of it yet.
    fleet.router.catalog.putBackend(
      create(CatalogBackendSchema, {
        backend: { name: "far-blind", kind: RemoteBackendKind.TEI, url: `http://localhost:${remote.port}/embed`, timeoutMs: 5000 },
        apiKey: KEY,
      }),
    );
    const inputs = Array.from({ length: 10 }, (_, i) => `blind text ${i}`);
    remote.state.infoFails = true;
    let r!: Awaited<ReturnType<typeof viaFleet>>;
    try {
      const calls = await callsDuring(async () => {
        r = await viaFleet("/m/far-blind/embed", { inputs });
      });
      expect(r.status).toBe(200);
      expect(r.body).toEqual((await direct("embed", "/embed", { inputs })).body);
      // /info failed, so TEI's default (32) put all 10 in one call, refused; then 4 + 4 + 2.
      const embeds = calls.filter((c) => c.path === "/embed");
      expect(embeds.map((c) => (c.body?.inputs as string[] | undefined)?.length)).toEqual([10, 4, 4, 2]);
      // The limit is kept: the next batch is split at once.
      const again = await callsDuring(() => viaFleet("/m/far-blind/embed", { inputs }));
      expect(again.filter((c) => c.path === "/embed").map((c) => (c.body?.inputs as string[] | undefined)?.length)).toEqual([4, 4, 2]);
    } finally {
      remote.state.infoFails = false;
    }
  });

  test("/embed_sparse, /embed_all, /tokenize, /decode and /similarity match the remote's own answers", async () => {
    const cases: [Inst, string, Record<string, unknown>][] = [
      ["sparse", "/embed_sparse", { inputs: ["alpha", "beta"] }],
      ["embed", "/embed_all", { inputs: "abc" }],
      ["embed", "/tokenize", { inputs: ["héllo", "world"], add_special_tokens: false }],
      ["embed", "/decode", { ids: [[1104, 1101], [1119]] }],
      ["embed", "/similarity", { inputs: { source_sentence: "a cat", sentences: ["a dog", "the cat", "x", "y", "z", "a cat"] } }],
      ["embed", "/tokenize", { inputs: Array.from({ length: 6 }, (_, i) => `t${i}`) }],
      ["embed", "/decode", { ids: Array.from({ length: 5 }, (_, i) => [1100 + i]) }],
      ["sparse", "/embed_sparse", { inputs: ["a", "b", "c", "d", "e"] }],
    ];
    for (const [inst, path, body] of cases) {
      const r = await viaFleet(path, { model: `far-${inst}`, ...body });
      const want = await direct(inst, path, body);
      expect({ path, status: r.status }).toEqual({ path, status: 200 });
      expect(r.body).toEqual(want.body);
    }
  });

  test("/predict: a text, a pair, and a batch split into batches", async () => {
    for (const inputs of ["I love it", ["I love it", "really"], [["a"], ["b", "c"], ["d"], ["e"], ["f", "g"], ["h"]]]) {
      const r = await viaFleet("/predict", { model: "far-classify", inputs });
      const want = await direct("classify", "/predict", { inputs });
      expect(r.status).toBe(200);
      expect(r.body).toEqual(want.body);
    }
  });

  test("/rerank in TEI's shape, split by the remote's batch and merged by score", async () => {
    const texts = ["Paris is in France", "Berlin", "The capital of France is Paris", "bananas", "France", "cats"];
    const body = { query: "capital of France", texts, return_text: true };
    const r = await viaFleet("/rerank", { model: "far-rerank", ...body });
    const want = await direct("rerank", "/rerank", body);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(want.body);
    expect(r.headers.get("x-compute-tokens")).toBe(want.headers.get("x-compute-tokens"));
  });

  test("Jina / Cohere v1 and Cohere v2 rerank are translated onto the remote's /rerank", async () => {
    const documents = ["Paris is in France", "Berlin", "The capital of France is Paris", "bananas", "France"];
    const want = await direct("rerank", "/rerank", { query: "capital of France", texts: documents, return_text: true });
    const ranks = want.body as { index: number; score: number; text: string }[];
    const tokens = Number(want.headers.get("x-compute-tokens"));

    const v1 = await viaFleet("/v1/rerank", { model: "far-rerank", query: "capital of France", documents, top_n: 2, return_documents: true });
    expect(v1.status).toBe(200);
    expect(v1.body).toMatchObject({ model: "far-rerank", object: "rerank", usage: { prompt_tokens: tokens, total_tokens: tokens } });
    expect(v1.body.results).toEqual(ranks.slice(0, 2).map((x) => ({ index: x.index, relevance_score: x.score, document: { text: x.text } })));

    const calls = await callsDuring(async () => {
      const v2 = await viaFleet("/v2/rerank", { model: "far-rerank", query: "capital of France", documents: documents.map((text) => ({ text })), top_n: 3 });
      expect(v2.status).toBe(200);
      expect(v2.body.results).toEqual(ranks.slice(0, 3).map((x) => ({ index: x.index, relevance_score: x.score })));
      expect(v2.body.meta).toMatchObject({ api_version: { version: "2" }, tokens: { input_tokens: tokens } });
    });
    // TEI's fields only: the texts in chunks of the remote's batch, no Cohere field, no model.
    const reranks = calls.filter((c) => c.path === "/rerank");
    expect(reranks.map((c) => Object.keys(c.body ?? {}).sort())).toEqual([
      ["query", "return_text", "texts"],
      ["query", "return_text", "texts"],
    ]);
    expect(reranks.map((c) => (c.body?.texts as string[] | undefined)?.length)).toEqual([4, 1]);
  });

  test("OpenAI /v1/embeddings (float and base64) is translated onto the remote's /embed", async () => {
    const input = ["hello", "world", "a", "b", "c"];
    const want = (await direct("embed", "/embed", { inputs: input })).body as number[][];
    const tokens = Number((await direct("embed", "/embed", { inputs: input })).headers.get("x-compute-tokens"));
    const f = await viaFleet("/v1/embeddings", { model: "far-embed", input });
    expect(f.status).toBe(200);
    expect(f.body).toMatchObject({ object: "list", model: "far-embed", usage: { prompt_tokens: tokens, total_tokens: tokens } });
    expect(f.body.data.map((d: { index: number; embedding: number[] }) => [d.index, d.embedding])).toEqual(want.map((v, i) => [i, v]));
    const b = await viaFleet("/m/far-embed/v1/embeddings", { input, encoding_format: "base64" });
    expect(b.status).toBe(200);
    b.body.data.forEach((d: { embedding: string }, i: number) => {
      const bytes = Buffer.from(d.embedding, "base64");
      expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4))).toEqual(want[i]);
    });
    // Token arrays are decoded as cl100k ids, as on the local path ("hello" is 15339).
    const ids = await viaFleet("/v1/embeddings", { model: "far-embed", input: [[15339]] });
    expect(ids.body.data[0].embedding).toEqual(want[0]);
  });

  test("GET /info is the remote's own with the fleet's name as served_model_name; /invocations goes by the remote's model type; /vertex is forwarded", async () => {
    const info = await fetch(`${fleet.http}/m/far-embed/info`);
    const got = (await info.json()) as Record<string, unknown>;
    const want = (await (await fetch(`${face.http}/i/embed/info`)).json()) as Record<string, unknown>;
    expect(info.status).toBe(200);
    expect(info.headers.get("x-tei-backend")).toBe("far-embed");
    expect(got).toEqual({ ...want, served_model_name: "far-embed" });
    expect(got).toMatchObject({ model_id: MODELS.embed, max_client_batch_size: LIMIT });
    const byHeader = await fetch(`${fleet.http}/info`, { headers: { "x-tei-model": "far-rerank" } });
    expect(((await byHeader.json()) as { model_id: string }).model_id).toBe(MODELS.rerank);

    const rr = await viaFleet("/invocations", { model: "far-rerank", query: "q", texts: ["a", "q"] });
    expect(rr.body).toEqual((await direct("rerank", "/rerank", { query: "q", texts: ["a", "q"] })).body);
    const pr = await viaFleet("/m/far-classify/invocations", { inputs: "wonderful" });
    expect(pr.body).toEqual((await direct("classify", "/predict", { inputs: "wonderful" })).body);
    const em = await viaFleet("/invocations", { model: "far-embed", inputs: ["x", "y"] });
    expect(em.body).toEqual((await direct("embed", "/embed", { inputs: ["x", "y"] })).body);

    const vertex = { instances: [{ inputs: "a" }, { inputs: ["b", "c"] }] };
    const v = await viaFleet("/m/far-embed/vertex", vertex);
    expect(v.status).toBe(200);
    expect(v.body).toEqual((await direct("embed", "/vertex", vertex)).body);
  });
});

describe("errors through a TEI-kind remote", () => {
  test("TEI's error JSON comes back with its status on TEI's routes, in the family's shape on OpenAI's and Cohere's", async () => {
    const long = "x".repeat(600);
    const r = await viaFleet("/embed", { model: "far-embed", inputs: long, truncate: false });
    const want = await direct("embed", "/embed", { inputs: long, truncate: false });
    expect(want.status).toBe(422);
    expect(r.status).toBe(422);
    expect(r.body).toEqual(want.body);
    const o = await viaFleet("/v1/rerank", { model: "far-embed", query: "q", documents: ["a"] });
    const wantMismatch = await direct("embed", "/rerank", { query: "q", texts: ["a"] });
    expect(wantMismatch.status).toBe(424);
    expect(o.status).toBe(400);
    expect(o.body).toMatchObject({ message: wantMismatch.body.error, error: { message: wantMismatch.body.error, code: "model_type_mismatch" } });
    const t = await viaFleet("/rerank", { model: "far-embed", query: "q", texts: ["a"] });
    expect(t.status).toBe(424);
    expect(t.body).toEqual(wantMismatch.body);
  });

  test("an upstream's overload, an error echoing the key, a 5xx and a refused key", async () => {
    try {
      remote.state.fault = { status: 429, body: JSON.stringify({ error: "Model is overloaded", error_type: "Overloaded" }) };
      const busy = await viaFleet("/embed", { model: "far-embed", inputs: "x" });
      expect(busy.status).toBe(429);
      expect(busy.body).toEqual({ error: "Model is overloaded", error_type: "Overloaded" });
      expect(busy.headers.get("retry-after")).toBe("1");
      remote.state.fault = { status: 422, body: JSON.stringify({ error: `the key ${KEY} may not embed this`, error_type: "Validation" }) };
      const echo = await viaFleet("/v1/embeddings", { model: "far-embed", input: "x" });
      expect(echo.status).toBe(400);
      expect(echo.body.error.message).toBe("the key [redacted] may not embed this");
      remote.state.fault = { status: 503, body: "{}" };
      const down = await viaFleet("/embed", { model: "far-embed", inputs: "x" });
      expect(down.status).toBe(502);
      expect(down.body).toMatchObject({ error_type: "Backend" });
    } finally {
      remote.state.fault = null;
    }
    const bad = await viaFleet("/embed", { model: "far-badkey", inputs: "x" });
    expect(bad.status).toBe(502);
    expect(bad.body.error).toBe('remote backend "far-badkey" refused the fleet\'s credentials (401)');
    const again = await viaFleet("/v2/rerank", { model: "far-badkey", query: "q", documents: ["a"] });
    expect(again.body.error.code).toBe("backend_auth_error");
  });

  test("bad input is refused with the route's status and shape before any call", async () => {
    const cases: [string, Record<string, unknown>, number, unknown][] = [
      ["/embed", { model: "far-embed", inputs: [] }, 400, { error: "inputs: `inputs` cannot be empty", error_type: "Empty" }],
      ["/embed", { model: "far-embed", inputs: 5 }, 422, { error_type: "Validation" }],
      ["/embed", { model: "far-embed", inputs: "x", normalize: "yes" }, 422, { error: "normalize: expected a boolean, got a string" }],
      ["/predict", { model: "far-classify", inputs: [["a", "b", "c"]] }, 422, { error_type: "Validation" }],
      ["/similarity", { model: "far-embed", inputs: { source_sentence: "a" } }, 422, { error_type: "Validation" }],
      ["/decode", { model: "far-embed", ids: [] }, 400, { error_type: "Empty" }],
      [
        "/v1/embeddings",
        { model: "far-embed", input: "x", encoding_format: "hex" },
        400,
        { error: { param: "encoding_format", type: "invalid_request_error" } },
      ],
      ["/v2/rerank", { model: "far-rerank", documents: ["a"] }, 400, { error: { param: "query" } }],
      ["/embed", { model: "far-embed", inputs: "\ud800" }, 422, { error_type: "Validation" }],
    ];
    const calls = await callsDuring(async () => {
      for (const [path, body, status, shape] of cases) {
        const r = await viaFleet(path, body);
        expect({ path, status: r.status }).toEqual({ path, status });
        expect(r.body).toMatchObject(shape as object);
      }
    });
    expect(calls).toEqual([]);
  });

  test("a remote that is down: 502, then ejected; an alias prefers its other target meanwhile", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await viaFleet("/embed", { model: "far-down", inputs: "x" });
      expect(r.status).toBe(502);
      expect(r.body).toEqual({ error: 'remote backend "far-down" could not be reached', error_type: "Backend" });
    }
    expect(fleet.router.catalog.backend("far-down")?.target.health.down()).toBe(true);
    for (let i = 0; i < 4; i++) expect((await viaFleet("/embed", { model: "embed-any", inputs: "x" })).headers.get("x-tei-backend")).toBe("far-embed");
    const log = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(log.find((l) => l.msg === "remote backend ejected")).toMatchObject({ backend: "far-down", url: `http://127.0.0.1:${downPort}` });
  });
});

describe("OpenAI-kind remotes serve embeddings only", () => {
  test("a TEI-only route is refused naming the kind and the route, in the route's shape; /info is synthesized", async () => {
    const calls = await callsDuring(async () => {
      const t = await viaFleet("/tokenize", { model: "openai-x", inputs: "a" });
      expect(t.status).toBe(400);
      expect(t.body.error).toMatch(/remote backend "openai-x" of kind openai .*not \/tokenize/);
      const c = await viaFleet("/v2/rerank", { model: "openai-x", query: "q", documents: ["a"] });
      expect(c.status).toBe(400);
      expect(c.body.error).toMatchObject({ code: "unsupported_for_remote_backend", param: "model" });
      expect(c.body.message).toMatch(/not \/v2\/rerank/);
    });
    expect(calls).toEqual([]);
    const info = await fetch(`${fleet.http}/m/openai-x/info`);
    expect(info.status).toBe(200);
    expect(await info.json()).toEqual({
      model_id: "text-embedding-3-small",
      model_sha: null,
      model_dtype: null,
      model_type: { embedding: { pooling: null } },
      max_client_batch_size: 2048,
      served_model_name: "openai-x",
    });
  });
});

test("the upstream key never appears in the fleet's log lines or answers", expectKeyNeverLeaked);
