import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { closeConnection } from "./close-connection.ts";
import type { KeySchema } from "./keys.ts";

/**
 * One subscription to the `changes` channel per process, fanned out in memory: every
 * WatchAssignments stream, the route table's cache and the node cache listen here instead of
 * each holding its own Redis connection. Pub/sub is at-most-once, so every listener also polls;
 * a lost message costs latency, never correctness.
 */
export interface ChangesBus {
  /**
   * Calls `listener` with every message ("routes", "assignments:{node}", "node:{name}", "event",
   * "instance:{name}" for a create or delete).
   */
  subscribe(listener: (message: string) => void): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Creates the bus on a duplicate of `redis` (a subscribed connection can do nothing else). */
export function createChangesBus(redis: Redis, keys: KeySchema, logger: Logger): ChangesBus {
  const listeners = new Set<(message: string) => void>();
  let subscriber: Redis | undefined;
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    async start() {
      if (subscriber) return;
      subscriber = redis.duplicate();
      subscriber.on("error", (err) => logger.warn({ err: err.message }, "changes subscriber error"));
      subscriber.on("message", (_channel: string, message: string) => {
        for (const listener of listeners) {
          try {
            listener(message);
          } catch (err) {
            logger.error({ err }, "changes listener failed");
          }
        }
      });
      await subscriber.subscribe(keys.changesChannel());
    },
    async stop() {
      const s = subscriber;
      subscriber = undefined;
      listeners.clear();
      if (s) await closeConnection(s);
    },
  };
}
