/**
 * Groups the requests made within one turn of the event loop into one batch (the DataLoader
 * pattern). The placement worker runs many jobs at once; loading each job's state on its own
 * costs a socket write and a Redis round trip per job, loading them together costs one per batch.
 */
export function createBatchLoader<K, V>(load: (keys: K[]) => Promise<V[]>, maxBatch = 256): (key: K) => Promise<V> {
  const queue: Array<{ key: K; resolve: (v: V) => void; reject: (e: unknown) => void }> = [];
  const flush = () => {
    const batch = queue.splice(0, maxBatch);
    if (queue.length > 0) setImmediate(flush);
    load(batch.map((b) => b.key)).then(
      (values) => {
        for (const [i, b] of batch.entries()) b.resolve(values[i]!);
      },
      (err) => {
        for (const b of batch) b.reject(err);
      },
    );
  };
  return (key) =>
    new Promise<V>((resolve, reject) => {
      queue.push({ key, resolve, reject });
      if (queue.length === 1) setImmediate(flush);
    });
}
