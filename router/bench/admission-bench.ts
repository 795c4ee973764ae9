/**
 * `pnpm bench:admission` (`--quick`: 5 s per measurement instead of 20): the fleet's admission
 * measured end to end, with real processes (admission-fleet.ts: Redis, control plane, a node
 * agent with the fake TEI, three routers) and an open-loop load generator (admission-load.ts).
 *
 * 1. Fleet-wide rate limits: one key at 4× its limit (80/s, burst 50) and one at half of it,
 *    each skewed 70/25/5 across the three routers, which enforce their shares of each key as
 *    the control plane grants them (AdmissionService.RenewShares, every 300 ms). The first must
 *    get 80/s ±10% and RESOURCE_EXHAUSTED for the rest; the second is never refused.
 * 2. Bounded queues: 4× a model's measured capacity (one replica with simulated compute time),
 *    with a small queue and with the default one: admitted calls' p99 within what the queues
 *    allow (their depth, and the TEI batch a call is served in, ÷ the throughput; the depth
 *    alone is the mean wait, printed beside it), every refusal in under 5 ms, no call past its
 *    deadline, no admitted call failing.
 *
 * Each figure is printed with its target and a verdict. Each measurement starts 2 s after its
 * processes (their start-up is not measured), and its first seconds (the burst, shares converging
 * from the even split, compilation) are left out of the rates and timings; counts of hung and
 * failed calls cover every call. Timings on a shared machine include its scheduling delays, and
 * the generator's include its own backlog (its worst lateness is printed). So refusal times are
 * judged on the probe's calls (an idle client in its own process), with the generator's printed
 * beside them; admitted calls' p99 is judged on all of them, with the probe's printed beside it.
 * The generator runs in a process of its own at a lower CPU priority, so that the routers under
 * test are not kept waiting for a CPU by the load they are measured with
 * (admission-load-process.ts).
 */
import { cpus } from "node:os";
import { benchKey, FAST_MODEL, SLOW_MODEL, startBenchFleet } from "./admission-fleet.ts";
import { type CallOutcome, Code, type LoadStream, quantile } from "./admission-load.ts";
import { GENERATOR_NICE, startLoadProcess } from "./admission-load-process.ts";

const quick = process.argv.includes("--quick");
const DURATION_MS = quick ? 5_000 : 20_000;
/** Left out of the rate measurement: the burst, and shares converging from the even split. */
const WARMUP_MS = quick ? 1_000 : 2_000;
const SKEW = [0.7, 0.25, 0.05] as const;
const ROUTERS = 3;
/** Simulated compute per token on the slow model's replica: ~40 tokens a call, ~100 calls/s. */
const COMPUTE_US_PER_TOKEN = 250;
const SLOW_TEXT = "an input of about forty characters, ok!";
/** Unary calls each router has with TEI at once in the overload runs (the rest queue). */
const MAX_INFLIGHT = 16;
const SMALL_QUEUE = 50;
const DEFAULT_QUEUE = 1000;
/**
 * Between starting a measurement's processes (routers, probe) and its load: their start-up
 * (module loading, compilation) is not what is measured.
 */
const SETTLE_MS = 2_000;
/** Calls per second of the probe (its own process, an idle client) to router 0, part of the offered load. */
const PROBE_PER_SECOND = 20;
/** The deadline every call sends: longer than any queue here allows, so none should pass. */
const DEADLINE_MS = 60_000;

interface Row {
  figure: string;
  measured: string;
  target: string;
  ok: boolean;
}
const rows: Row[] = [];
const row = (figure: string, measured: string, target: string, ok: boolean) => {
  rows.push({ figure, measured, target, ok });
  console.log(`  ${figure.padEnd(58)} ${measured.padStart(14)}   target ${target.padEnd(22)} ${ok ? "PASS" : "FAIL"}`);
};
const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
const refused = (o: CallOutcome) => o.code === Code.ResourceExhausted;

/** Splits a stream's rate over the routers by SKEW. */
function skewed(name: string, urls: string[], perSecond: number, extra: Omit<LoadStream, "name" | "url" | "perSecond">): LoadStream[] {
  return urls.map((url, i) => ({ name: `${name}@${i}`, url, perSecond: perSecond * (SKEW[i] as number), ...extra }));
}

/**
 * One measurement's load, `SETTLE_MS` after the routers started: the generator's streams (in a
 * process at a lower priority) and the probe's (an idle client at the bench's priority), at once.
 */
async function generateWithProbe(streams: LoadStream[], probe: LoadStream, deadlineMs: number) {
  const startAtMs = Date.now() + SETTLE_MS;
  const [load, probed] = await Promise.all([
    startLoadProcess({ startAtMs, nice: GENERATOR_NICE, load: { streams, durationMs: DURATION_MS, deadlineMs } }),
    startLoadProcess({ startAtMs, nice: 0, load: { streams: [probe], durationMs: DURATION_MS, deadlineMs, client: "http2" } }),
  ]);
  return { load, probed };
}

async function rateLimits(bench: Awaited<ReturnType<typeof startBenchFleet>>): Promise<void> {
  const hot = benchKey("bench-hot", 80, 50);
  const calm = benchKey("bench-calm", 80, 50);
  const keysFile = bench.writeKeys([hot, calm]);
  const routers = await bench.startRouters(ROUTERS, ["--require-api-keys", "true", "--api-keys-file", keysFile, "--router-count", String(ROUTERS)]);
  try {
    const text = "rate limit probe";
    const hotStreams = skewed("hot", routers.urls, 4 * hot.requestsPerSecond, { model: FAST_MODEL, apiKey: hot.secret, text });
    const first = hotStreams[0] as LoadStream;
    hotStreams[0] = { ...first, perSecond: first.perSecond - PROBE_PER_SECOND }; // the probe sends the rest
    const { load, probed } = await generateWithProbe(
      [...hotStreams, ...skewed("calm", routers.urls, calm.requestsPerSecond / 2, { model: FAST_MODEL, apiKey: calm.secret, text })],
      { ...first, name: "hotprobe@0", perSecond: PROBE_PER_SECOND },
      10_000,
    );
    const outcomes = [...load.outcomes, ...probed.outcomes];
    const maxLagMs = load.maxLagMs;
    const window = (o: CallOutcome) => o.sentAt >= WARMUP_MS;
    const seconds = (DURATION_MS - WARMUP_MS) / 1000;
    const hotCalls = outcomes.filter((o) => o.stream.startsWith("hot"));
    const calmCalls = outcomes.filter((o) => o.stream.startsWith("calm@"));
    const hotOk = hotCalls.filter((o) => window(o) && o.code === 0).length / seconds;
    const perRouter = [0, 1, 2].map((i) => hotCalls.filter((o) => window(o) && o.code === 0 && o.stream === `hot@${i}`).length / seconds);
    console.log(
      `\n1. Fleet-wide rate limits: ${ROUTERS} routers, load skewed ${SKEW.map((s) => s * 100).join("/")}, ${DURATION_MS / 1000} s (first ${WARMUP_MS / 1000} s not counted)`,
    );
    console.log(`   hot key: 80/s burst 50, offered 320/s; calm key: 80/s burst 50, offered 40/s; generator's worst lateness ${f(maxLagMs)} ms`);
    console.log(`   hot key admitted per router: ${perRouter.map((r) => f(r)).join(" / ")} per s`);
    row("hot key (4x its limit): admitted rate, fleet-wide", `${f(hotOk)}/s`, "80/s ±10% (72..88)", hotOk >= 72 && hotOk <= 88);
    const hotOther = hotCalls.filter((o) => o.code !== 0 && !refused(o)).length;
    row("hot key: refusals that are not RESOURCE_EXHAUSTED", String(hotOther), "0", hotOther === 0);
    const hotRefused = hotCalls.filter(refused).length;
    row("hot key: calls refused RESOURCE_EXHAUSTED", String(hotRefused), "> 0 (the excess)", hotRefused > 0);
    const calmRefused = calmCalls.filter((o) => o.code !== 0).length;
    row("calm key (half its limit): calls refused", `${calmRefused} of ${calmCalls.length}`, "0", calmRefused === 0);
    refusalRow("rate-limit refusals", probed.outcomes, load.outcomes);
  } finally {
    await routers.stop();
  }
}

/**
 * The refusals' times as the probe (an idle client) saw them, the verdict's figure, with the
 * generator's beside it (its own backlog included).
 */
function refusalRow(what: string, probe: CallOutcome[], bulk: CallOutcome[]): void {
  const ms = probe.filter((o) => refused(o) && o.sentAt >= WARMUP_MS).map((o) => o.ms);
  const bulkMs = bulk.filter((o) => refused(o) && o.sentAt >= WARMUP_MS).map((o) => o.ms);
  const slowest = ms.length === 0 ? 0 : Math.max(...ms);
  console.log(
    `   ${what}, as the generator saw them (its own delays included): p50 ${f(quantile(bulkMs, 0.5), 2)} ms, p99 ${f(quantile(bulkMs, 0.99), 2)} ms, ${f(100 * (bulkMs.filter((m) => m < 5).length / Math.max(1, bulkMs.length)), 1)}% under 5 ms`,
  );
  const under = ms.filter((m) => m < 5).length;
  console.log(`   ${what}, probe (idle client): p50 ${f(quantile(ms, 0.5), 2)} ms, p90 ${f(quantile(ms, 0.9), 2)} ms, ${under} of ${ms.length} under 5 ms`);
  row(`${what}, probe: slowest of ${ms.length} (p99)`, `${f(slowest, 2)} ms (${f(quantile(ms, 0.99), 2)})`, "< 5 ms", slowest < 5);
}

/** Completions per second of OK calls between `from` and `to` ms. */
function throughput(outcomes: CallOutcome[], from: number, to: number): number {
  const done = outcomes.filter((o) => o.code === 0 && o.sentAt + o.ms >= from && o.sentAt + o.ms < to).length;
  return done / ((to - from) / 1000);
}

async function overload(bench: Awaited<ReturnType<typeof startBenchFleet>>, queue: number, capacity: number): Promise<void> {
  const routers = await bench.startRouters(ROUTERS, ["--max-inflight", String(MAX_INFLIGHT), "--max-queue-per-model", String(queue)]);
  try {
    const offered = 4 * capacity;
    const streams: LoadStream[] = routers.urls.map((url, i) => ({ name: `slow@${i}`, url, perSecond: offered / ROUTERS, model: SLOW_MODEL, text: SLOW_TEXT }));
    const first = streams[0] as LoadStream;
    streams[0] = { ...first, perSecond: first.perSecond - PROBE_PER_SECOND };
    const { load, probed } = await generateWithProbe(streams, { ...first, name: "slowprobe@0", perSecond: PROBE_PER_SECOND }, DEADLINE_MS);
    const outcomes = [...load.outcomes, ...probed.outcomes];
    const maxLagMs = load.maxLagMs;
    // The model's throughput over its busy period: from the end of the warm-up until the queues
    // have drained (the last answer), as the calls that waited longest, admitted late, were
    // served after the load had stopped. While the load runs, the replica shares the CPUs with it.
    const busyUntil = outcomes.reduce((end, o) => (o.code === 0 ? Math.max(end, o.sentAt + o.ms) : end), DURATION_MS);
    const measured = throughput(outcomes, WARMUP_MS, busyUntil);
    const whileLoaded = throughput(outcomes, WARMUP_MS, DURATION_MS);
    // What the queues allow: every router's waiting and in-flight calls ahead, served at the
    // model's throughput: the mean wait of a call admitted at the back of a full queue. TEI
    // serves in batches (continuous batching: what waits when a batch ends is the next batch), so
    // a call also waits for the batch it is served in, up to every router's in-flight calls:
    // its worst case, which a p99 meets.
    const depth = ROUTERS * (queue + MAX_INFLIGHT);
    const meanMs = (depth / measured) * 1000;
    const batch = ROUTERS * MAX_INFLIGHT;
    const boundMs = ((depth + batch) / measured) * 1000;
    const admitted = outcomes.filter((o) => !refused(o));
    const refusals = outcomes.filter(refused);
    const okMs = admitted.filter((o) => o.code === 0 && o.sentAt >= WARMUP_MS).map((o) => o.ms);
    console.log(
      `\n2. Overload, queue ${queue} per model per router (${queue === DEFAULT_QUEUE ? "the default" : "small"}), ${MAX_INFLIGHT} in flight per router`,
    );
    console.log(
      `   offered ${f(offered, 0)}/s (4x); measured throughput ${f(measured)}/s until the queues drained at ${f(busyUntil / 1000)} s (${f(whileLoaded)}/s while loaded); ${admitted.length} admitted, ${refusals.length} refused; generator's worst lateness ${f(maxLagMs)} ms`,
    );
    const p99 = quantile(okMs, 0.99);
    const probeOk = probed.outcomes.filter((o) => o.code === 0 && o.sentAt >= WARMUP_MS).map((o) => o.ms);
    console.log(`   admitted calls, probe (idle client): p50 ${f(quantile(probeOk, 0.5), 0)} ms, p99 ${f(quantile(probeOk, 0.99), 0)} ms of ${probeOk.length}`);
    console.log(
      `   the queues' depth ÷ throughput (${depth}÷${f(measured, 0)}/s): ${f(meanMs, 0)} ms, the mean wait at the back of a full queue; ` +
        `p50 ${f(quantile(okMs, 0.5), 0)} ms`,
    );
    row(`admitted calls' p99, all ${okMs.length}`, `${f(p99, 0)} ms`, `≤ ${f(boundMs, 0)} ms ((${depth}+${batch})÷${f(measured, 0)}/s)`, p99 <= boundMs);
    refusalRow("queue-full refusals", probed.outcomes, load.outcomes);
    const hung = outcomes.filter((o) => o.hung).length;
    row("calls with no answer by their deadline", String(hung), "0", hung === 0);
    const failed = admitted.filter((o) => o.code !== 0 && !o.hung);
    const codes = [...new Set(failed.map((o) => Code[o.code as Code]))].join(", ");
    row(`admitted calls that failed${codes ? ` (${codes})` : ""}`, String(failed.length), "0", failed.length === 0);
  } finally {
    await routers.stop();
  }
}

/** The slow model's throughput: 2 s at a rate above it, through routers that queue the excess. */
async function calibrate(bench: Awaited<ReturnType<typeof startBenchFleet>>): Promise<number> {
  const routers = await bench.startRouters(ROUTERS, ["--max-inflight", String(MAX_INFLIGHT), "--max-queue-per-model", String(SMALL_QUEUE)]);
  try {
    const { outcomes } = await startLoadProcess({
      startAtMs: Date.now() + SETTLE_MS,
      nice: GENERATOR_NICE,
      load: {
        streams: routers.urls.map((url, i) => ({ name: `cal@${i}`, url, perSecond: 300 / ROUTERS, model: SLOW_MODEL, text: SLOW_TEXT })),
        durationMs: 3000,
        deadlineMs: DEADLINE_MS,
      },
    });
    return throughput(outcomes, 1000, 3000);
  } finally {
    await routers.stop();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`admission bench${quick ? " (--quick)" : ""}: ${cpus().length} cores, ${new Date().toISOString()}`);
  const bench = await startBenchFleet(COMPUTE_US_PER_TOKEN);
  try {
    await rateLimits(bench);
    const capacity = await calibrate(bench);
    console.log(`\n   ${SLOW_MODEL}: one replica, ${COMPUTE_US_PER_TOKEN} µs/token of simulated compute: ${f(capacity)} calls/s (calibration)`);
    await overload(bench, SMALL_QUEUE, capacity);
    await overload(bench, DEFAULT_QUEUE, capacity);
  } finally {
    await bench.stop();
  }
  const failed = rows.filter((r) => !r.ok);
  console.log(`\n${rows.length - failed.length}/${rows.length} figures within target (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (failed.length > 0) process.exitCode = 1;
}

await main();
