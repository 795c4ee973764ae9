import { keepaliveEvent, type WatchPoint } from "@tei-fleet/core/watch";
import type { WatchEvent } from "@tei-fleet/proto/fleet/v1";
import type { WatchCache } from "./watch-cache.ts";

/**
 * One watcher's stream of a watched set (watch.proto), served from this process's cache once it
 * has read the log after the watch began: first a snapshot, the changes since its position, or a
 * keepalive when it is current; then the changes as the cache applies them, each from the
 * version the watcher has to the cache's current one, so a watcher that reads slowly gets fewer,
 * larger deltas rather than a queue; and a keepalive after `keepaliveMs` without anything to send.
 */
export async function* streamWatch(cache: WatchCache, position: WatchPoint | undefined, signal: AbortSignal, keepaliveMs: number): AsyncGenerator<WatchEvent> {
  if (signal.aborted) return;
  cache.hold(signal);
  // A watch that starts sees every write that completed before it did (a client that writes and
  // then watches finds its write; a watcher ahead of this process, served by another that read the
  // log first, is not taken for one from another history): one read of the log, shared by every
  // watcher that starts meanwhile. With Redis away, what this process has is served.
  await cache.refresh().catch(() => cache.ready());
  const { mirror } = cache;
  let at = position;
  let lastSent = Number.NEGATIVE_INFINITY;
  while (!signal.aborted) {
    await cache.settled();
    const event = cache.eventFor(at);
    if (event !== undefined) {
      at = { epoch: event.kind.case === "snapshot" ? event.kind.value.epoch : at!.epoch, version: event.version };
      lastSent = Date.now();
      yield event;
    } else if (Date.now() - lastSent >= keepaliveMs) {
      at = { epoch: mirror.epoch, version: mirror.version };
      lastSent = Date.now();
      yield keepaliveEvent(at.epoch, at.version);
    }
    await cache.changed(at!, Math.max(1, keepaliveMs - (Date.now() - lastSent)), signal);
  }
}
