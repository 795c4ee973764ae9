import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { KeySchema } from "./keys.ts";

/**
 * What every scheduler part needs, passed in rather than imported: the Redis client (with the
 * scheduler's Lua scripts defined on it), the key schema, a logger and a clock.
 */
export interface SchedulerContext {
  readonly redis: Redis;
  readonly keys: KeySchema;
  readonly logger: Logger;
  /** Milliseconds since the epoch; replaceable in tests. */
  now(): number;
}

/** Heartbeat and loop timings shared by the agent protocol and the reconciler, failure-report and reschedule policy. */
export interface SchedulerTimings {
  /** How often agents heartbeat, told to them at registration. Default 1000 ms. */
  heartbeatIntervalMs: number;
  /** A node silent for longer is lost. Default 6000 ms. */
  heartbeatTtlMs: number;
  /** How often the leader compares desired and observed state in full. Default 5000 ms. */
  reconcileIntervalMs: number;
  /** How often the leader looks for lost nodes and advances drains. Default 1000 ms. */
  livenessIntervalMs: number;
  /** How long a replaced replica stays up after its route is removed. Default 2000 ms. */
  routeGraceMs: number;
  /**
   * A node lost (or left) for longer than this is deleted from the fleet, so autoscaled hosts
   * that went away do not stay listed forever; 0 keeps them. Default 24 h.
   */
  lostNodeRetentionMs: number;
  /**
   * Distinct routers that must report a replica failing (within `ejectionReportWindowMs`) before
   * it leaves every router's table. One router alone ejects it only locally, so a router with a
   * bad path to one host cannot take a healthy replica away from the rest. Default 2.
   */
  ejectionQuorum: number;
  /** How long a router's failure report counts toward the quorum. Default 60 000 ms. */
  ejectionReportWindowMs: number;
  /**
   * A replica failing (failed or crash_loop, not running since) for this long is replaced on
   * another node; each further reschedule of the same replica index waits twice as long (capped,
   * see reschedule-policy.ts). 0 disables rescheduling. Default 30 000 ms.
   */
  rescheduleAfterMs: number;
  /** Most reschedules of one replica index within `rescheduleIntervalMs`. Default 3. */
  rescheduleAttempts: number;
  /** The window `rescheduleAttempts` counts in; also how long failed-on nodes are avoided. Default 1 h. */
  rescheduleIntervalMs: number;
}

/** The defaults of SchedulerTimings (documented there). */
export const DEFAULT_TIMINGS: SchedulerTimings = {
  heartbeatIntervalMs: 1000,
  heartbeatTtlMs: 6000,
  reconcileIntervalMs: 5000,
  livenessIntervalMs: 1000,
  routeGraceMs: 2000,
  lostNodeRetentionMs: 24 * 3600 * 1000,
  ejectionQuorum: 2,
  ejectionReportWindowMs: 60_000,
  rescheduleAfterMs: 30_000,
  rescheduleAttempts: 3,
  rescheduleIntervalMs: 3600 * 1000,
};
