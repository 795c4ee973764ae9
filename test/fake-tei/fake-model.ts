/**
 * The "model": deterministic arithmetic standing in for a forward pass. Everything is seeded from
 * a hash of the model id and the (truncated) input, so the same text always gives the same
 * vector on every instance of the same model, and different models give different vectors.
 * Cheap on purpose: the fake is the baseline of the router benchmark.
 */
import type { ModelSpec } from "./models.ts";
import { ID_OFFSET } from "./tokenizer.ts";

/** FNV-1a 32-bit over UTF-16 code units, continuing from `seed`. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32: a tiny, fast, well-mixed PRNG; returns a generator of floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seed for one input of one model. */
function seedFor(model: ModelSpec, text: string): number {
  return fnv1a(text, fnv1a(model.id));
}

/** Scales a vector to unit L2 norm in place (computed in f64, like TEI). */
export function normalizeInPlace(vector: number[]): number[] {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] as number) * scale;
  return vector;
}

/**
 * The pooled embedding of a text: `dim` values of roughly unit variance (sum of two uniforms),
 * truncated to `dimensions` and normalized when asked, in TEI's order (truncate, then normalize).
 */
export function denseEmbedding(model: ModelSpec, text: string, dimensions: number, normalize: boolean): number[] {
  const next = mulberry32(seedFor(model, text));
  const out = new Array<number>(dimensions);
  for (let i = 0; i < dimensions; i++) out[i] = next() + next() - 1;
  return normalize ? normalizeInPlace(out) : out;
}

/**
 * A SPLADE vector as (index, value) pairs sorted by index: one activation per distinct
 * character of the input plus a few expansion terms, all positive, like log(1 + relu(x)).
 */
export function sparseEmbedding(model: ModelSpec, text: string): { index: number; value: number }[] {
  const seed = fnv1a(model.id);
  const weights = new Map<number, number>();
  for (const ch of text) {
    const h = fnv1a(ch, seed);
    const index = h % model.vocabSize;
    weights.set(index, (weights.get(index) ?? 0) + 0.25 + (h >>> 16) / 65536);
    if (weights.size >= 48) break;
  }
  const next = mulberry32(seedFor(model, text));
  for (let k = 0; k < 8; k++) {
    const index = Math.floor(next() * model.vocabSize);
    weights.set(index, (weights.get(index) ?? 0) + next() * 0.5);
  }
  return [...weights.entries()].sort((a, b) => a[0] - b[0]).map(([index, w]) => ({ index, value: Math.log1p(w) }));
}

/** The dense vocabulary-sized vector of a SPLADE model (Embed with normalize=false). */
export function sparseAsDense(model: ModelSpec, text: string): number[] {
  const out = new Array<number>(model.vocabSize).fill(0);
  for (const { index, value } of sparseEmbedding(model, text)) out[index] = value;
  return out;
}

/** One unnormalized vector per token id (EmbedAll), seeded by token id and position. */
export function tokenEmbeddings(model: ModelSpec, ids: readonly number[]): number[][] {
  const base = fnv1a(model.id);
  return ids.map((id, position) => {
    const next = mulberry32(Math.imul(base ^ (id - ID_OFFSET), 2654435761) ^ position);
    const out = new Array<number>(model.dim);
    for (let i = 0; i < model.dim; i++) out[i] = next() + next() - 1;
    return out;
  });
}

/** Logistic function. */
function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Classifier or reranker scores for one input (or a pair joined by the caller), one per label,
 * sorted by score descending like TEI. Softmax over labels, or sigmoid for a single label, unless
 * `rawScores` asks for the logits.
 */
export function predict(model: ModelSpec, text: string, rawScores: boolean): { label: string; score: number }[] {
  const next = mulberry32(seedFor(model, text));
  const logits = model.labels.map(() => next() * 8 - 4);
  let scores = logits;
  if (!rawScores) {
    if (logits.length === 1) {
      scores = [sigmoid(logits[0] as number)];
    } else {
      const max = Math.max(...logits);
      const exps = logits.map((l) => Math.exp(l - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      scores = exps.map((e) => e / sum);
    }
  }
  return model.labels.map((label, i) => ({ label, score: scores[i] as number })).sort((a, b) => b.score - a.score);
}

/** Lower-cased words of a text, for the reranker's overlap score. */
function words(text: string): Set<string> {
  return new Set(
    text
      .toLowerCase()
      .split(/[^\p{L}\p{N}]+/u)
      .filter((w) => w.length > 0),
  );
}

/**
 * The reranker's relevance logit for (query, text): word overlap makes relevant texts score
 * higher (so demos look sensible), plus a small deterministic jitter that breaks ties.
 */
export function rerankLogit(model: ModelSpec, query: string, text: string): number {
  const q = words(query);
  const t = words(text);
  let shared = 0;
  for (const w of q) if (t.has(w)) shared++;
  const overlap = q.size === 0 ? 0 : shared / q.size;
  const jitter = (fnv1a(text, seedFor(model, query)) % 1000) / 1000 - 0.5;
  return overlap * 10 - 5 + jitter;
}

/** The reranker score: sigmoid of the logit, or the logit itself with raw_scores. */
export function rerankScore(model: ModelSpec, query: string, text: string, rawScores: boolean): number {
  const logit = rerankLogit(model, query, text);
  return rawScores ? logit : sigmoid(logit);
}
