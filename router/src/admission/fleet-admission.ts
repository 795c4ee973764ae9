/**
 * The fleet's own admission steps, built from the router's configuration, in the order every
 * front runs them after its protocol steps: the API key (when keys are required), the key's rate
 * limit, then the bounded fair queue (last, since nothing after it may refuse a call that holds
 * a slot). One instance per router process: the gRPC front and the HTTP gateway share its key
 * table, limits and queue, so a key's limit and the in-flight bound hold across both surfaces.
 */
import type { RouteTable } from "../routing/route-table.ts";
import type { AdmissionStep } from "./admission.ts";
import { type AdmissionClock, SYSTEM_CLOCK } from "./admission-clock.ts";
import { createApiKeyCheck } from "./api-key-check.ts";
import { CallModels } from "./call-model.ts";
import { FairQueue } from "./fair-queue.ts";
import { KeyRateLimiter } from "./key-rate-limiter.ts";
import { KeyTable } from "./key-table.ts";
import { createRateLimit } from "./rate-limit.ts";
import type { RateShareSource } from "./rate-share-source.ts";
import { ShareRenewer } from "./share-renewer.ts";
import { UsageMeter } from "./usage-meter.ts";
import { UsageReporter, type UsageSink } from "./usage-reporter.ts";

/** What the fleet's admission is built from (the router's configuration, parsed). */
export interface FleetAdmissionOptions {
  /** Calls must present a known API key. Default false: anyone is served, as TEI does. */
  readonly requireApiKeys?: boolean;
  /** Unary calls with TEI at once; 0 turns the queue off. Default 256. */
  readonly maxInflightGlobal?: number;
  /** Calls waiting per model. Default 1000. */
  readonly maxQueuePerModel?: number;
  /** Deadline of a call that sets none shorter. Default 120 000 ms. */
  readonly requestTimeoutMs?: number;
  /** Routers assumed to share each key's limits until a share source says. Default 1. */
  readonly routerCount?: number;
  /** Resolves instance targets to models. */
  readonly table: RouteTable;
  /** Default the process's clocks. */
  readonly clock?: AdmissionClock;
  /** Where the shares of the keys' limits are renewed from; default none (1/routerCount). */
  readonly shareSource?: RateShareSource;
  /** Period of the shares' renewal from the share source. Default 1000 ms. */
  readonly shareIntervalMs?: number;
  /** This router's name in demand reports. Default "router". */
  readonly routerName?: string;
  /** Told when the share source stops or starts answering. */
  readonly onShareSourceChange?: (reachable: boolean, err?: unknown) => void;
  /** Where per-key usage is delivered (the control plane); default none (router metrics only). */
  readonly usageSink?: UsageSink;
  /** Period of usage reports. Default 1000 ms. */
  readonly usageIntervalMs?: number;
  /** Told when usage delivery stops or starts working. */
  readonly onUsageSinkChange?: (reachable: boolean, err?: unknown) => void;
}

/** The fleet's admission of one router. */
export interface FleetAdmission {
  /** The steps, in order (empty when keys are not required and the queue is off). */
  readonly steps: readonly AdmissionStep[];
  /** The keys checked against (fed by a keys file or, later, the watch). */
  readonly keys: KeyTable;
  readonly limiter: KeyRateLimiter;
  /** The in-flight limit and queues; null when off. */
  readonly queue: FairQueue | null;
  /** Per-key usage counted by this router (keys required only). */
  readonly usage: UsageMeter;
  /** Starts renewing shares (when a source was given). */
  start(): void;
  /** Stops the renewal. */
  stop(): void;
}

/** Builds the fleet's admission steps. */
export function createFleetAdmission(o: FleetAdmissionOptions): FleetAdmission {
  const clock = o.clock ?? SYSTEM_CLOCK;
  const models = new CallModels(o.table);
  const keys = new KeyTable();
  const limiter = new KeyRateLimiter(clock, o.routerCount ?? 1);
  const usage = new UsageMeter();
  const steps: AdmissionStep[] = [];
  if (o.requireApiKeys === true)
    steps.push(createApiKeyCheck({ keys, clock, models, meter: usage }), createRateLimit(limiter, clock, { meter: usage, models }));
  const inflight = o.maxInflightGlobal ?? 256;
  const queue =
    inflight > 0 ? new FairQueue({ maxInflight: inflight, maxQueuePerModel: o.maxQueuePerModel, requestTimeoutMs: o.requestTimeoutMs, clock, models }) : null;
  if (queue !== null) steps.push(queue.step);
  const renewer =
    o.shareSource === undefined
      ? null
      : new ShareRenewer({
          source: o.shareSource,
          limiter,
          clock,
          router: o.routerName ?? "router",
          intervalMs: o.shareIntervalMs,
          onSourceChange: o.onShareSourceChange,
        });
  const reporter =
    o.usageSink === undefined
      ? null
      : new UsageReporter({
          meter: usage,
          sink: o.usageSink,
          router: o.routerName ?? "router",
          intervalMs: o.usageIntervalMs,
          onSinkChange: o.onUsageSinkChange,
        });
  return {
    steps,
    keys,
    limiter,
    queue,
    usage,
    start: () => {
      renewer?.start();
      reporter?.start();
    },
    stop: () => {
      renewer?.stop();
      void reporter?.stop();
    },
  };
}
