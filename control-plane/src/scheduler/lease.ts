import { randomUUID } from "node:crypto";
import { runScript } from "../store/lua-scripts.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";

/** A lease held by at most one control-plane process, with a fencing token. */
export interface Lease {
  readonly name: string;
  readonly holder: string;
  /** Acquires or renews; returns the fencing token while held, undefined otherwise. */
  acquire(): Promise<string | undefined>;
  release(): Promise<void>;
}

/**
 * A Redis lease (SET NX PX) with a fencing token (INCR on every new acquisition). Redis is not a
 * consensus store, so holding the lease is not enough to act safely: a holder paused past its
 * lease could wake up and write. Fenced scripts therefore compare the token they were given with
 * `lease-token:{name}` and refuse stale ones (Kleppmann's fencing token).
 */
export function createLease(ctx: SchedulerContext, name: string, ttlMs: number): Lease {
  const holder = randomUUID();
  return {
    name,
    holder,
    async acquire() {
      const token = await runScript(ctx.redis, "lease-acquire", [ctx.keys.lease(name), ctx.keys.leaseToken(name)], [holder, String(ttlMs)]);
      return token === null || token === undefined ? undefined : String(token);
    },
    async release() {
      await runScript(ctx.redis, "lease-release", [ctx.keys.lease(name)], [holder]);
    },
  };
}
