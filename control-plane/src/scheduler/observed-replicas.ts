import type { Instance } from "@tei-fleet/proto/fleet/v1";
import { readInstanceRecord } from "../store/instance-record.ts";
import { createRecordProblemReporter, type RecordProblemReporter } from "../store/record-problems.ts";
import type { SchedulerContext } from "../store/scheduler-context.ts";
import { createBatchLoader } from "./batch-loader.ts";
import { parseReplicas, type StoredReplica } from "./replica-records.ts";
import { parseRescheduleState, type RescheduleState } from "./reschedule-policy.ts";

/** A replica record with what Redis says about it right now. */
export interface ObservedReplica extends StoredReplica {
  /** Its assignment still exists on its node. */
  live: boolean;
  /** A drain allowed it to move: a replacement elsewhere comes first. */
  moving: boolean;
}

/** Everything one reconcile pass reads about one instance before it decides. */
export interface ObservedInstance {
  /** The desired state; undefined once the instance is deleted. */
  instance: Instance | undefined;
  /** Its replica records, placed or not. */
  observed: ObservedReplica[];
  /** `retiring:{name}`: since when (ms, as stored) each replica has been retiring, or RESTART_MARK. */
  retiring: Record<string, string>;
  /** `reschedules:{name}`, parsed. */
  failures: RescheduleState;
}

/**
 * Reads instances, their replica records and whether each placement is still assigned, in bulk:
 * one pipeline for the instances' own keys, then one for the flags of every placed replica.
 */
async function observeMany(ctx: SchedulerContext, report: RecordProblemReporter, names: string[]): Promise<ObservedInstance[]> {
  const { redis, keys } = ctx;
  const pipe = redis.pipeline();
  for (const name of names) {
    pipe.get(keys.instance(name)).hgetall(keys.replicas(name)).hgetall(keys.retiring(name)).hgetall(keys.reschedules(name));
  }
  const results = (await pipe.exec()) ?? [];
  const partial = names.map((name, i) => {
    const instanceJson = results[i * 4]?.[1] as string | null;
    const hash = (results[i * 4 + 1]?.[1] ?? {}) as Record<string, string>;
    const retiring = (results[i * 4 + 2]?.[1] ?? {}) as Record<string, string>;
    const failures = parseRescheduleState((results[i * 4 + 3]?.[1] ?? {}) as Record<string, string>);
    const observed: ObservedReplica[] = parseReplicas(hash).map((r) => ({ ...r, live: false, moving: false }));
    const instance = instanceJson ? readInstanceRecord(name, instanceJson, report) : undefined;
    return { instance, observed, retiring, failures };
  });
  const placed = partial.flatMap((p) => p.observed.filter((r) => r.replica.node !== ""));
  if (placed.length > 0) {
    const flags = redis.pipeline();
    for (const r of placed) {
      flags.hexists(keys.assignments(r.replica.node), r.id);
      flags.hexists(keys.drain(r.replica.node), `move:${r.id}`);
    }
    const answers = (await flags.exec()) ?? [];
    placed.forEach((r, i) => {
      r.live = answers[i * 2]?.[1] === 1;
      r.moving = answers[i * 2 + 1]?.[1] === 1;
    });
  }
  return partial;
}

/**
 * The reconciler's read of one instance's observed state. Reads asked for within one turn of
 * the event loop share the same two round trips (batch-loader.ts): the placement worker runs
 * many jobs at once. Records that cannot be decoded are reported once (record-problems.ts).
 */
export function createInstanceObserver(ctx: SchedulerContext): (name: string) => Promise<ObservedInstance> {
  const report = createRecordProblemReporter(ctx.redis, ctx.keys, ctx.logger);
  return createBatchLoader((names: string[]) => observeMany(ctx, report, names));
}
