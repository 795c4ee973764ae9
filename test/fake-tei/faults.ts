/**
 * Fault injection for the tests of the agent, the router and the whole system. Settings come
 * from FAKE_TEI_* environment variables and from a JSON file named by FAKE_TEI_FAULTS_FILE,
 * because the node agent starts TEI with a clean environment: the file (read once at start)
 * lets a test give each model, or every instance ("*"), its own faults. Precedence: env var,
 * then the file's entry for the model id, then its "*" entry.
 */
import { readFileSync } from "node:fs";

/** Every fault and test hook the fake understands. */
export interface Faults {
  /** Extra model-loading time before warm-up ends and the ports open (FAKE_TEI_STARTUP_DELAY_MS). */
  startupDelayMs: number;
  /** Time after the gRPC port opens before the model service turns SERVING (FAKE_TEI_SERVING_DELAY_MS). */
  servingDelayMs: number;
  /** Exit with this code right after the `Args` line (FAKE_TEI_EXIT_AT_START). */
  exitAtStart?: number;
  /** Serve N inference requests, abort (SIGABRT) on the next one (FAKE_TEI_CRASH_AFTER_REQUESTS). */
  crashAfterRequests?: number;
  /** Serve N inference requests, never answer later ones (FAKE_TEI_HANG_AFTER_REQUESTS). */
  hangAfterRequests?: number;
  /** Added latency per inference request, while holding its permit (FAKE_TEI_SLOW_MS). */
  slowMs: number;
  /**
   * Simulated compute time per token in µs on the replica's one device, which runs one batch at
   * a time (FAKE_TEI_COMPUTE_US_PER_TOKEN). 0, the default, turns the device off.
   */
  computeUsPerToken: number;
  /** Minimum compute time of one batch in µs, with the device on (FAKE_TEI_COMPUTE_BATCH_FLOOR_US). */
  computeBatchFloorUs: number;
  /** Pretend CUDA cannot be initialised: warn and run on CPU (FAKE_TEI_CPU_FALLBACK). */
  cpuFallback: boolean;
  /** Serve any model id as a 768-d embedding model (FAKE_TEI_ALLOW_ANY_MODEL). */
  allowAnyModel: boolean;
  /** Write {pid, argv, env, cwd} here at start; `{port}` is replaced by --port (FAKE_TEI_RECORD_FILE). */
  recordFile?: string;
}

type Key = keyof Faults;

/** Env var name of each setting (also accepted as keys in the faults file). */
export const FAULT_ENV: Record<Key, string> = {
  startupDelayMs: "FAKE_TEI_STARTUP_DELAY_MS",
  servingDelayMs: "FAKE_TEI_SERVING_DELAY_MS",
  exitAtStart: "FAKE_TEI_EXIT_AT_START",
  crashAfterRequests: "FAKE_TEI_CRASH_AFTER_REQUESTS",
  hangAfterRequests: "FAKE_TEI_HANG_AFTER_REQUESTS",
  slowMs: "FAKE_TEI_SLOW_MS",
  computeUsPerToken: "FAKE_TEI_COMPUTE_US_PER_TOKEN",
  computeBatchFloorUs: "FAKE_TEI_COMPUTE_BATCH_FLOOR_US",
  cpuFallback: "FAKE_TEI_CPU_FALLBACK",
  allowAnyModel: "FAKE_TEI_ALLOW_ANY_MODEL",
  recordFile: "FAKE_TEI_RECORD_FILE",
};

/** Env var naming the JSON faults file. */
export const FAULTS_FILE_ENV = "FAKE_TEI_FAULTS_FILE";

const BOOLEAN_KEYS: ReadonlySet<Key> = new Set<Key>(["cpuFallback", "allowAnyModel"]);
const STRING_KEYS: ReadonlySet<Key> = new Set<Key>(["recordFile"]);

/** Converts one raw setting (env string or JSON value); throws with a message naming it. */
function convert(key: Key, raw: unknown, source: string): unknown {
  if (BOOLEAN_KEYS.has(key)) {
    if (raw === true || raw === "true") return true;
    if (raw === false || raw === "false" || raw === "") return false;
    throw new Error(`${source}: expected true or false, got ${JSON.stringify(raw)}`);
  }
  if (STRING_KEYS.has(key)) {
    if (typeof raw === "string") return raw;
    throw new Error(`${source}: expected a string, got ${JSON.stringify(raw)}`);
  }
  const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 0) throw new Error(`${source}: expected a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** Reads the entry of a faults file for a model ("*" first, the model's own entry on top). */
function fromFile(path: string, modelId: string | undefined): Partial<Record<Key, unknown>> {
  const doc = JSON.parse(readFileSync(path, "utf8")) as Record<string, Record<string, unknown>>;
  if (typeof doc !== "object" || doc === null) throw new Error(`${path}: expected a JSON object`);
  const merged: Partial<Record<Key, unknown>> = {};
  for (const entry of [doc["*"], modelId === undefined ? undefined : doc[modelId]]) {
    if (!entry) continue;
    for (const key of Object.keys(FAULT_ENV) as Key[]) {
      const value = entry[key] ?? entry[FAULT_ENV[key]];
      if (value !== undefined) merged[key] = convert(key, value, `${path}: ${key}`);
    }
  }
  return merged;
}

/**
 * Resolves the faults for a model. Throws an Error naming the bad setting when a value or the
 * file is malformed (main turns it into a start-up error, exit 1).
 */
export function loadFaults(env: NodeJS.ProcessEnv, modelId: string | undefined): Faults {
  const file = env[FAULTS_FILE_ENV];
  const merged: Partial<Record<Key, unknown>> = file ? fromFile(file, modelId) : {};
  for (const key of Object.keys(FAULT_ENV) as Key[]) {
    const raw = env[FAULT_ENV[key]];
    if (raw !== undefined && raw !== "") merged[key] = convert(key, raw, FAULT_ENV[key]);
  }
  return {
    startupDelayMs: 0,
    servingDelayMs: 0,
    slowMs: 0,
    computeUsPerToken: 0,
    computeBatchFloorUs: 0,
    cpuFallback: false,
    allowAnyModel: false,
    ...(merged as Partial<Faults>),
  };
}
