/**
 * Default GPU memory a replica claims when its spec gives no `gpu_memory_mb`. TEI loads one model
 * per process; these figures are the model's weights in fp16 plus TEI's batching buffers and the
 * CUDA context, rounded up, so that a GPU is never over-committed by the defaults. Anything not
 * recognised gets 8 GiB: too much wastes a slot, too little crashes TEI with CUDA OOM.
 *
 * | model id contains                                   | MiB   |
 * |-----------------------------------------------------|-------|
 * | bge-small, e5-small, minilm, gte-small              | 2048  |
 * | mpnet, bge-base, e5-base, gte-base, nomic, splade   | 3072  |
 * | reranker (any size below large), roberta, distil    | 3072  |
 * | bge-large, e5-large, gte-large, reranker-large      | 4096  |
 * | bge-m3, multilingual-e5-large-instruct              | 6144  |
 * | anything else                                       | 8192  |
 */
const TABLE: ReadonlyArray<readonly [RegExp, number]> = [
  [/bge-m3|e5-large-instruct/i, 6144],
  [/bge-large|e5-large|gte-large|reranker-large|reranker-v2-m3/i, 4096],
  [/bge-small|e5-small|minilm|gte-small/i, 2048],
  [/mpnet|bge-base|e5-base|gte-base|nomic|splade|reranker|roberta|distil/i, 3072],
];

/** The memory claimed for a model when the spec does not say, in MiB. */
export const UNKNOWN_MODEL_MEMORY_MB = 8192;

/** Default GPU memory (MiB) for a model id, from the table above. */
export function defaultModelMemoryMb(modelId: string): number {
  for (const [pattern, mb] of TABLE) if (pattern.test(modelId)) return mb;
  return UNKNOWN_MODEL_MEMORY_MB;
}
