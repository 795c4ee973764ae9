/**
 * TEI's environment. TEI reads generic names (`PORT`, `HOSTNAME`, `API_KEY`, `MODEL_ID`, ...; tei.md
 * §2), so a child that inherits the agent's environment can silently change behaviour. The child
 * gets a clean environment: PATH, HOME, the names the operator allows through, and
 * `CUDA_VISIBLE_DEVICES` naming exactly the assigned GPUs.
 */

/**
 * Environment names passed through by default: the hub token and cache, TEI's log filter, and the
 * dynamic loader path (CUDA images set LD_LIBRARY_PATH; without it TEI cannot load libcuda and
 * falls back to the CPU).
 */
export const DEFAULT_PASS_ENV: readonly string[] = ["HF_TOKEN", "HF_HOME", "HUGGINGFACE_HUB_CACHE", "LOG_LEVEL", "LD_LIBRARY_PATH"];

/** Names never passed through, whatever the patterns say: the agent's secrets and managed names. */
const NEVER_PASSED = new Set(["TEI_FLEET_JOIN_TOKEN", "TEI_FLEET_ADMIN_TOKEN", "CUDA_VISIBLE_DEVICES"]);

/** PATH used when the agent itself has none (systemd gives a minimal one, containers may not). */
const FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Checks a `--pass-env` pattern: an environment name, or a prefix followed by one trailing `*`
 * (`FAKE_TEI_*`). A bare `*` is refused because it would hand TEI the agent's whole environment.
 * Returns an error message, or `undefined` when the pattern is valid.
 */
export function passEnvPatternError(pattern: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*\*?$/.test(pattern)) {
    return `${JSON.stringify(pattern)} is not an environment name or a NAME_PREFIX* pattern`;
  }
  return undefined;
}

/** True when `name` is matched by one of the patterns (exact name or `PREFIX*`). */
export function matchesPassEnv(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** Inputs of {@link buildTeiEnv}. */
export interface TeiEnvOptions {
  /** The agent's own environment (usually `process.env`). */
  parentEnv: Readonly<Record<string, string | undefined>>;
  /** Names or `PREFIX*` patterns to pass through, see {@link DEFAULT_PASS_ENV}. */
  passEnv: readonly string[];
  /** UUIDs of the assigned GPUs; empty hides every GPU from TEI. */
  gpuUuids: readonly string[];
}

/** Builds TEI's complete environment (nothing else is inherited). */
export function buildTeiEnv(options: TeiEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.parentEnv)) {
    if (value === undefined || NEVER_PASSED.has(name)) continue;
    if (matchesPassEnv(name, options.passEnv)) env[name] = value;
  }
  env.PATH = options.parentEnv.PATH || FALLBACK_PATH;
  if (options.parentEnv.HOME) env.HOME = options.parentEnv.HOME;
  // UUIDs, not indices: CUDA's index order may differ from nvidia-smi's, a UUID never does. An
  // empty value hides all GPUs, so an instance without a GPU cannot grab GPU 0 by accident.
  env.CUDA_VISIBLE_DEVICES = options.gpuUuids.join(",");
  return env;
}
