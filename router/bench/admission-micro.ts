/**
 * `node router/bench/admission-micro.ts`: what the fleet's admission steps add to each call, in
 * ns/call of the admission chain run in a loop (call object, chain, end of call), against the
 * gRPC front's steps alone:
 *
 * - base: the gRPC front's steps (POST, content-type, method, target), as before issue 12;
 * - defaults: plus the fair queue (in-flight limit 256, queue 1000), the router's default;
 * - keys: plus the API key check (SHA-256 of the bearer key, table lookup) and its rate limit;
 * - keys + tpm: a key with a tokens-per-minute limit (the end hook charges TEI's count).
 *
 * Calls never wait (the limits are far above what one loop asks), so this is the fast path of
 * every step. Prints the median of several rounds. Target: ≤ 10 µs added per call.
 */
import { performance } from "node:perf_hooks";
import { type AdmissionStep, admissionCall, endCall, runAdmission } from "../src/admission/admission.ts";
import { hashApiKey } from "../src/admission/api-key-view.ts";
import { createFleetAdmission } from "../src/admission/fleet-admission.ts";
import { GRPC_CALL_STEPS } from "../src/admission/grpc-chain.ts";
import { RouteTable } from "../src/routing/route-table.ts";
import { METHODS } from "../src/tei/method-table.ts";

const PATH = "/tei.v1.Embed/Embed";
const METHOD = METHODS.get(PATH);
const KEY = "tf_live_benchmark_key_0123456789abcdef";
const HEADERS = [
  ":method",
  "POST",
  ":scheme",
  "http",
  ":path",
  PATH,
  ":authority",
  "127.0.0.1:9001",
  "content-type",
  "application/grpc",
  "te",
  "trailers",
  "user-agent",
  "grpc-node-js/1.12.0",
  "x-tei-model",
  "BAAI/bge-small-en-v1.5",
  "authorization",
  `Bearer ${KEY}`,
];

function fleetSteps(requireApiKeys: boolean, tokensPerMinute?: number): AdmissionStep[] {
  const table = new RouteTable();
  const fleet = createFleetAdmission({ requireApiKeys, table });
  fleet.keys.upsert({
    hash: hashApiKey(KEY),
    name: "bench",
    allowedModels: ["BAAI/bge-small-en-v1.5"],
    limits: { requestsPerSecond: 1e12, burst: 1e12, tokensPerMinute },
  });
  return [...GRPC_CALL_STEPS, ...fleet.steps];
}

/** ns per call of `steps` over `n` calls. */
function measure(steps: readonly AdmissionStep[], n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const call = admissionCall(PATH, HEADERS, METHOD);
    const d = runAdmission(steps, call);
    if (d !== undefined) throw new Error(`refused: ${String(d)}`);
    if (call.computeTokens === 0) call.computeTokens = 12;
    endCall(call, 0);
  }
  return ((performance.now() - t0) * 1e6) / n;
}

const chains: [string, readonly AdmissionStep[]][] = [
  ["base (gRPC front's steps)", GRPC_CALL_STEPS],
  ["defaults (+ in-flight limit and queue)", fleetSteps(false)],
  ["keys required (+ key check, rate limit)", fleetSteps(true)],
  ["keys + tokens/min limit", fleetSteps(true, 1e12)],
];

const N = Number(process.env.N ?? 200_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
for (const [, steps] of chains) measure(steps, N); // warm-up: every step compiled
const results = chains.map(([name, steps]) => {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(measure(steps, N));
  rounds.sort((a, b) => a - b);
  return { name, ns: rounds[Math.floor(ROUNDS / 2)] as number };
});
const base = (results[0] as { ns: number }).ns;
console.log(`admission chain, ns/call (median of ${ROUNDS} rounds of ${N} calls):`);
for (const r of results) {
  const added = r.ns - base;
  console.log(`  ${r.name.padEnd(42)} ${r.ns.toFixed(0).padStart(6)} ns   added ${added.toFixed(0).padStart(5)} ns (${(added / 1000).toFixed(2)} µs)`);
}
