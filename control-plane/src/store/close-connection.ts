import type { Redis } from "ioredis";

/**
 * Closes a Redis connection politely (QUIT) but never waits more than `timeoutMs`: with Redis
 * unreachable, QUIT would wait for a reconnection that may never come, and a control plane must
 * still be able to shut down.
 */
export async function closeConnection(connection: Redis, timeoutMs = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([connection.quit().catch(() => undefined), gaveUp]);
  clearTimeout(timer);
  connection.disconnect();
}

/** Waits for `work`, but at most `timeoutMs`; true when it finished in time. */
export async function withinTime(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const done = await Promise.race([
    work.then(
      () => true as const,
      () => true as const,
    ),
    late,
  ]);
  clearTimeout(timer);
  return done;
}
