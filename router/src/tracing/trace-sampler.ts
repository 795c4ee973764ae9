/**
 * Which spans are kept, from `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` with the SDK
 * spec's values (the SDK itself no longer reads them). A gateway request that splits into many
 * TEI calls makes a span per call, so a ratio sampler is what keeps a busy fleet's traces
 * affordable. A value this router does not implement (`jaeger_remote`, `xray`, a typo) falls
 * back to the spec's default, `parentbased_always_on`, with a warning at start-up, rather than
 * stopping a router over a variable set for the whole deployment.
 */

/** The sampler to build: its root decision, whether a parent's decision wins, and the ratio. */
export interface SamplerChoice {
  /** The spec's name of what is built, for the start-up log. */
  readonly name: string;
  readonly root: "always_on" | "always_off" | "ratio";
  /** A request with a sampled (or unsampled) `traceparent` follows its caller's decision. */
  readonly parentBased: boolean;
  /** For `ratio`: the share of traces kept, 0..1. */
  readonly ratio: number;
}

const DEFAULT_CHOICE: SamplerChoice = { name: "parentbased_always_on", root: "always_on", parentBased: true, ratio: 1 };

const ROOTS: Readonly<Record<string, { root: SamplerChoice["root"]; parentBased: boolean }>> = {
  always_on: { root: "always_on", parentBased: false },
  always_off: { root: "always_off", parentBased: false },
  traceidratio: { root: "ratio", parentBased: false },
  parentbased_always_on: { root: "always_on", parentBased: true },
  parentbased_always_off: { root: "always_off", parentBased: true },
  parentbased_traceidratio: { root: "ratio", parentBased: true },
};

/**
 * The sampler `name` and `arg` describe (both as the variables hold them; undefined: unset),
 * and what was wrong with them (null: nothing), to log.
 */
export function samplerChoice(name: string | undefined, arg: string | undefined): { choice: SamplerChoice; problem: string | null } {
  if (name === undefined) return { choice: DEFAULT_CHOICE, problem: null };
  const key = name.trim().toLowerCase();
  const known = ROOTS[key];
  if (known === undefined) {
    return { choice: DEFAULT_CHOICE, problem: `OTEL_TRACES_SAMPLER=${name.slice(0, 64)} is not supported by the router: using ${DEFAULT_CHOICE.name}` };
  }
  if (known.root !== "ratio") return { choice: { name: key, ...known, ratio: 1 }, problem: null };
  if (arg === undefined) return { choice: { name: key, ...known, ratio: 1 }, problem: null };
  const ratio = Number(arg.trim());
  if (arg.trim() === "" || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    return { choice: { name: key, ...known, ratio: 1 }, problem: `OTEL_TRACES_SAMPLER_ARG=${arg.slice(0, 64)} is not a ratio between 0 and 1: using 1` };
  }
  return { choice: { name: key, ...known, ratio }, problem: null };
}
