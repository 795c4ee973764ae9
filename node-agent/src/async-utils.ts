/**
 * Small async helpers shared by the supervisor and the driver. Every timer here is cleared as soon
 * as the race is decided, so nothing keeps the event loop (or a test) alive longer than needed.
 */

/** Resolves with the promise's value, or `undefined` when `ms` passes first. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms), undefined);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sleeps `ms`, or less when `signal` aborts. Never rejects. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * A level-triggered wake-up: {@link Wakeup.wait} resolves at the next {@link Wakeup.notify} (or
 * immediately if one happened since the last wait), so a notification is never lost between checks.
 */
export class Wakeup {
  #pending = false;
  #waiters: Array<() => void> = [];

  /** Wakes every waiter, or the next one to wait. */
  notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    if (waiters.length === 0) this.#pending = true;
    for (const w of waiters) w();
  }

  /** Resolves `true` at the next notification, or `false` after `ms` (when given). */
  wait(ms?: number): Promise<boolean> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#waiters.push(waiter);
      if (ms !== undefined) {
        timer = setTimeout(
          () => {
            // A timed-out waiter must not swallow the next notification.
            this.#waiters = this.#waiters.filter((w) => w !== waiter);
            resolve(false);
          },
          Math.max(0, ms),
        );
      }
    });
  }
}
