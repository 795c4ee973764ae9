import OpenAI, { BadRequestError, NotFoundError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalFleet, startLocalFleet, waitFor } from "../harness/index.ts";

const MODEL = "BAAI/bge-small-en-v1.5";

describe("the fleet as an OpenAI embeddings service: the official openai SDK against a router's HTTP gateway", () => {
  let fleet: LocalFleet;
  let http: string;
  let client: OpenAI;

  beforeAll(async () => {
    fleet = await startLocalFleet({ agents: 2, gateway: true });
    http = fleet.routers[0]?.httpUrl as string;
    const created = await fleet.api("POST", "/instances", { name: "small", model_id: MODEL, replicas: 2, placement_policy: "spread" });
    expect(created.status).toBe(201);
    await waitFor(
      "both replicas in the gateway's route table",
      async () => {
        const res = await fetch(`${http}/embed`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ inputs: ["a", "b", "c", "d"] }),
        });
        const served = res.headers.get("x-tei-instance");
        return res.status === 200 && (await fetch(`${http}/metrics`)).ok && served !== null ? served : undefined;
      },
      60_000,
    );
    client = new OpenAI({ baseURL: `${http}/v1`, apiKey: "not-needed", maxRetries: 0 });
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  it("embeds with the SDK's default base64 exactly what float JSON gives, with usage", async () => {
    const b64 = await client.embeddings.create({ model: MODEL, input: "hello fleet" });
    const floats = await client.embeddings.create({ model: MODEL, input: "hello fleet", encoding_format: "float" });
    expect(b64.data[0]?.embedding).toHaveLength(384);
    expect(b64.data[0]?.embedding).toEqual(floats.data[0]?.embedding);
    expect(b64.model).toBe(MODEL);
    expect(b64.object).toBe("list");
    expect(b64.usage.prompt_tokens).toBe([..."hello fleet"].length + 2);
    expect(b64.usage.total_tokens).toBe(b64.usage.prompt_tokens);
  });

  it("embeds arrays in order, honours dimensions (re-normalized), and works with a base URL without /v1", async () => {
    const inputs = ["one", "two", "three"];
    const r = await client.embeddings.create({ model: MODEL, input: inputs });
    expect(r.data.map((d) => d.index)).toEqual([0, 1, 2]);
    for (let i = 0; i < 3; i++) {
      const one = await client.embeddings.create({ model: MODEL, input: inputs[i] as string });
      expect(r.data[i]?.embedding).toEqual(one.data[0]?.embedding);
    }
    const short = await client.embeddings.create({ model: MODEL, input: "one", dimensions: 64 });
    const v = short.data[0]?.embedding ?? [];
    expect(v).toHaveLength(64);
    expect(Math.sqrt(v.reduce((s, x) => s + x * x, 0))).toBeCloseTo(1, 4);
    const bare = new OpenAI({ baseURL: http, apiKey: "x", maxRetries: 0 });
    expect((await bare.embeddings.create({ model: MODEL, input: "one" })).data[0]?.embedding).toEqual(r.data[0]?.embedding);
  });

  it("decodes LangChain's tiktoken id arrays to their text instead of embedding them as the model's ids", async () => {
    // cl100k_base ids of "hello world", as LangChain's OpenAIEmbeddings sends them by default.
    const ids = await client.embeddings.create({ model: MODEL, input: [[15339, 1917]] as unknown as string[] });
    const text = await client.embeddings.create({ model: MODEL, input: "hello world" });
    expect(ids.data[0]?.embedding).toEqual(text.data[0]?.embedding);
  });

  it("lists the served model in /v1/models", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain(MODEL);
  });

  it("surfaces errors as the SDK's typed errors: NotFoundError for an unknown model, BadRequestError for empty input", async () => {
    const unknown = await client.embeddings.create({ model: "no-such-model", input: "x" }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect((unknown as NotFoundError).code).toBe("model_not_found");
    expect((unknown as NotFoundError).param).toBe("model");
    const empty = await client.embeddings.create({ model: MODEL, input: "" }).catch((e: unknown) => e);
    expect(empty).toBeInstanceOf(BadRequestError);
    expect((empty as BadRequestError).param).toBe("input");
    const none = await client.embeddings.create({ model: MODEL, input: [] }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(BadRequestError);
  });

  it("serves TEI's /embed over the same port, split across both replicas", async () => {
    const inputs = Array.from({ length: 100 }, (_, i) => `doc ${i}`);
    const res = await fetch(`${http}/embed`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as number[][];
    expect(body).toHaveLength(100);
    const one = await client.embeddings.create({ model: MODEL, input: "doc 57", encoding_format: "float" });
    expect(body[57]).toEqual(one.data[0]?.embedding);
    expect(res.headers.get("x-tei-instance")).toBe("small");
    expect(res.headers.get("x-tei-node")?.split(", ").length).toBe(2);
  });
});
