/**
 * The batch-split figure of `pnpm bench:gateway`: one request of many inputs to the gateway's
 * /v1/embeddings, answered by a model's replicas whose fake TEIs spend simulated compute time
 * per token on one device each (FAKE_TEI_COMPUTE_US_PER_TOKEN). Over one replica its inputs
 * queue on one device; over four the gateway can split them and the device time divides. Reads
 * each replica's te_embed_count before and after, to show how the inputs were spread.
 */
import type { FakeTei } from "../../test/fake-tei/launcher.ts";
import { cpuSeconds } from "./cpu-time.ts";
import { checkAnswer } from "./gateway-payloads.ts";

/** What the repeated request measured. */
export interface SplitResult {
  /** Wall time of each request in ms. */
  timesMs: number[];
  medianMs: number;
  /** Inputs each replica embedded over the whole run. */
  perReplica: number[];
  /** CPU ms per request of the gateway's process, and of the fake TEIs together. */
  gatewayCpuMs: number;
  teiCpuMs: number;
  /** The first problem seen (bad status or shape), if any. */
  error?: string;
}

/** te_embed_count of one fake TEI (inputs it embedded). */
async function embedCount(tei: FakeTei): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${tei.prometheusPort}/metrics`)).text();
  return Number(/^te_embed_count (\d+)/m.exec(text)?.[1] ?? 0);
}

/**
 * POSTs `body` (an OpenAI embeddings request of `n` inputs of `dim` dimensions) to `url`
 * `repeats` times in a row, after one warm-up request.
 */
export async function measureSplit(
  url: string,
  body: string,
  n: number,
  dim: number,
  replicas: FakeTei[],
  gatewayPid: number,
  repeats: number,
): Promise<SplitResult> {
  const before = await Promise.all(replicas.map(embedCount));
  const teiCpu = () => replicas.reduce((sum, t) => sum + cpuSeconds(t.pid), 0);
  let cpu0 = { gateway: 0, tei: 0 };
  const timesMs: number[] = [];
  let error: string | undefined;
  for (let i = 0; i <= repeats && error === undefined; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    const text = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200) error = `HTTP ${res.status}: ${text.slice(0, 160)}`;
    else error = checkAnswer("/v1/embeddings base64", JSON.parse(text), n, dim);
    if (i > 0)
      timesMs.push(ms); // the first one warms up connections and code paths
    else cpu0 = { gateway: cpuSeconds(gatewayPid), tei: teiCpu() };
  }
  const measured = Math.max(1, timesMs.length);
  const gatewayCpuMs = ((cpuSeconds(gatewayPid) - cpu0.gateway) * 1000) / measured;
  const teiCpuMs = ((teiCpu() - cpu0.tei) * 1000) / measured;
  const after = await Promise.all(replicas.map(embedCount));
  const sorted = [...timesMs].sort((a, b) => a - b);
  return {
    timesMs,
    medianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    perReplica: after.map((a, i) => a - (before[i] ?? 0)),
    gatewayCpuMs,
    teiCpuMs,
    error,
  };
}
