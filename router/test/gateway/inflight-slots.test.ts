import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestBackend, type TestBackend } from "../support/tei-backend.ts";
import { type GatewayFixture, post, route, startGateway } from "./gateway-fixture.ts";

/**
 * The router's in-flight limit counts calls with TEI, whichever surface sent them: an HTTP batch
 * holds one slot for its request and takes spare ones for its further parallel calls only while
 * they are free (admission/fair-queue.ts takeSpare, gateway/tei-batch.ts).
 */
describe("a gateway batch and the router's in-flight limit", () => {
  let backends: TestBackend[];
  let fx: GatewayFixture;
  let wide: GatewayFixture;

  beforeAll(async () => {
    backends = await Promise.all(["a", "b", "c"].map((n) => startTestBackend(n)));
    for (const b of backends) b.delayMs = 15;
    // One replica: a 64-input request would send max_client_batch_size (32) calls at once.
    fx = await startGateway([route("small-a", (backends[0] as TestBackend).address, { assignmentId: "a", node: "na" })], { maxInflightGlobal: 4 });
    wide = await startGateway([route("small-c", (backends[2] as TestBackend).address, { assignmentId: "c", node: "nc" })]);
  }, 30_000);
  afterAll(async () => {
    await fx?.close();
    await wide?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
  });

  test("a 64-input request never has more calls with TEI than --max-inflight (4), and is answered whole and in order", async () => {
    const texts = Array.from({ length: 64 }, (_, i) => `text ${i}`);
    const r = await post(`${fx.http}/embed`, { inputs: texts });
    expect(r.status).toBe(200);
    expect(r.body).toHaveLength(64);
    const single = await post(`${fx.http}/embed`, { inputs: "text 63" });
    expect(r.body[63]).toEqual(single.body[0]);
    expect((backends[0] as TestBackend).maxConcurrentEmbeds).toBe(4);
  });

  test("while a batch holds the slots, a single request waits its turn and is served, not starved", async () => {
    const finished: string[] = [];
    const batch = post(`${fx.http}/embed`, { inputs: Array.from({ length: 64 }, (_, i) => `long ${i}`) }).then((r) => {
      finished.push("batch");
      return r;
    });
    // The batch takes 16 rounds of 15 ms calls on 4 slots; the single request comes after 2.
    await new Promise((r) => setTimeout(r, 30));
    const one = await post(`${fx.http}/embed`, { inputs: "between" });
    finished.push("one");
    expect(one.status).toBe(200);
    expect((await batch).status).toBe(200);
    // The batch gives a spare slot back as each call ends, to the waiting request first, rather
    // than keeping its 4 slots to the end.
    expect(finished).toEqual(["one", "batch"]);
  });

  test("with the default limit (256) the same batch runs its calls in parallel", async () => {
    const r = await post(`${wide.http}/embed`, { inputs: Array.from({ length: 64 }, (_, i) => `text ${i}`) });
    expect(r.status).toBe(200);
    expect((backends[2] as TestBackend).maxConcurrentEmbeds).toBeGreaterThan(4);
  });
});
