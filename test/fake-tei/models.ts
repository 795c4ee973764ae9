/**
 * The models the fake TEI "knows" (there is no network to download others from). Each entry
 * carries what TEI would read from the model's config files: model type, pooling, hidden size,
 * labels, maximum input length and the candle architecture named in the start-up log.
 */

/** TEI's three model types (tei.md §5.3). */
export type ModelKind = "embedding" | "classifier" | "reranker";

/** Pooling of an embedding model; `splade` makes it a sparse (SPLADE) model. */
export type Pooling = "cls" | "mean" | "splade" | "last-token";

/** What TEI derives from a model's config. */
export interface ModelSpec {
  /** The `--model-id` it was started with. */
  id: string;
  kind: ModelKind;
  /** Pooling for embedding models (undefined for classifiers and rerankers). */
  pooling?: Pooling;
  /** Embedding dimension (hidden size, or the Dense output when there is one). */
  dim: number;
  /** Vocabulary size: the length of a SPLADE vector and the range of sparse indices. */
  vocabSize: number;
  /** `id2label` in index order (classifiers and rerankers). */
  labels: string[];
  /** `max_input_length` before the `--max-batch-tokens` cap. */
  maxInputLength: number;
  /** Candle model name in `Starting <Arch> model on ...`, per device. */
  arch: { cpu: string; cuda: string };
  /** Whether a `*MaskedLM` head exists, which `--pooling splade` requires. */
  maskedLm: boolean;
}

/** The 28 labels of SamLowe/roberta-base-go_emotions, in id order. */
export const GO_EMOTIONS = [
  "admiration",
  "amusement",
  "anger",
  "annoyance",
  "approval",
  "caring",
  "confusion",
  "curiosity",
  "desire",
  "disappointment",
  "disapproval",
  "disgust",
  "embarrassment",
  "excitement",
  "fear",
  "gratitude",
  "grief",
  "joy",
  "love",
  "nervousness",
  "optimism",
  "pride",
  "realization",
  "relief",
  "remorse",
  "sadness",
  "surprise",
  "neutral",
];

const BERT = { cpu: "Bert", cuda: "FlashBert" };

/** The catalogue, keyed by model id. */
const CATALOGUE: Record<string, Omit<ModelSpec, "id">> = {
  "BAAI/bge-small-en-v1.5": { kind: "embedding", pooling: "cls", dim: 384, vocabSize: 30522, labels: [], maxInputLength: 512, arch: BERT, maskedLm: false },
  "BAAI/bge-base-en-v1.5": { kind: "embedding", pooling: "cls", dim: 768, vocabSize: 30522, labels: [], maxInputLength: 512, arch: BERT, maskedLm: false },
  "BAAI/bge-large-en-v1.5": { kind: "embedding", pooling: "cls", dim: 1024, vocabSize: 30522, labels: [], maxInputLength: 512, arch: BERT, maskedLm: false },
  // all-mpnet-base-v2's sentence-transformers config sets max_seq_length 384.
  "sentence-transformers/all-mpnet-base-v2": {
    kind: "embedding",
    pooling: "mean",
    dim: 768,
    vocabSize: 30527,
    labels: [],
    maxInputLength: 384,
    arch: { cpu: "MPNet", cuda: "MPNet" },
    maskedLm: false,
  },
  "sentence-transformers/all-MiniLM-L6-v2": {
    kind: "embedding",
    pooling: "mean",
    dim: 384,
    vocabSize: 30522,
    labels: [],
    maxInputLength: 256,
    arch: BERT,
    maskedLm: false,
  },
  // Real TEI needs `--pooling splade` for this repo (it has no 1_Pooling config); the fake
  // defaults to SPLADE so that the obvious command line gives a sparse model.
  "naver/splade-cocondenser-ensembledistil": {
    kind: "embedding",
    pooling: "splade",
    dim: 768,
    vocabSize: 30522,
    labels: [],
    maxInputLength: 512,
    arch: BERT,
    maskedLm: true,
  },
  "BAAI/bge-reranker-base": { kind: "reranker", dim: 768, vocabSize: 250002, labels: ["LABEL_0"], maxInputLength: 512, arch: BERT, maskedLm: false },
  "BAAI/bge-reranker-large": { kind: "reranker", dim: 1024, vocabSize: 250002, labels: ["LABEL_0"], maxInputLength: 512, arch: BERT, maskedLm: false },
  "SamLowe/roberta-base-go_emotions": { kind: "classifier", dim: 768, vocabSize: 50265, labels: GO_EMOTIONS, maxInputLength: 512, arch: BERT, maskedLm: false },
};

/** Model ids the fake can serve without FAKE_TEI_ALLOW_ANY_MODEL. */
export const KNOWN_MODEL_IDS: readonly string[] = Object.keys(CATALOGUE);

/**
 * Looks a model up. Unknown ids resolve to a generic 768-d mean-pooled embedding model when
 * `allowAny` is set, and to undefined otherwise (TEI then fails to download it).
 */
export function findModel(id: string, allowAny: boolean): ModelSpec | undefined {
  const entry = CATALOGUE[id];
  if (entry) return { id, ...entry };
  if (!allowAny) return undefined;
  return { id, kind: "embedding", pooling: "mean", dim: 768, vocabSize: 30522, labels: [], maxInputLength: 512, arch: BERT, maskedLm: false };
}

/**
 * Applies `--pooling` the way TEI does: it replaces an embedding model's pooling (SPLADE needs a
 * masked-LM head) and is ignored, with a warning, for classifiers. Returns the effective model
 * and an optional warning or error text.
 */
export function applyPooling(model: ModelSpec, pooling: Pooling | undefined): { model: ModelSpec; warning?: string; error?: string } {
  if (!pooling) return { model };
  if (model.kind !== "embedding") {
    return { model, warning: "`--pooling` arg is set but model is a classifier. Ignoring `--pooling` arg." };
  }
  if (pooling === "splade" && !model.maskedLm) {
    return { model, error: "Splade pooling is not supported: model is not a ForMaskedLM model" };
  }
  return { model: { ...model, pooling } };
}
