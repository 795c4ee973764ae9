/**
 * When a failing replica moves to another node: Nomad's `reschedule` block (attempts, interval,
 * exponential delay, max_delay) applied to TEI replicas. Pure: it reads the bookkeeping of
 * `reschedules:{instance}` (see keys.ts) and decides; reschedule-store.ts reads and writes Redis.
 */

/** The reschedule settings (SchedulerTimings' reschedule* fields). */

export interface ReschedulePolicy {
  /** A replica failing this long moves; 0 disables rescheduling. */
  afterMs: number;
  /** Most reschedules of one replica index within `intervalMs`. */
  attempts: number;
  /** The window attempts are counted in, and how long failed-on nodes are avoided. */
  intervalMs: number;
}

/** The longest a further reschedule waits, however many came before (unless `afterMs` is longer). */
export const MAX_RESCHEDULE_DELAY_MS = 10 * 60_000;

/**
 * How long a replica must have been failing before it moves, after `previous` reschedules of its
 * index in the window: `afterMs`, doubling with each one, capped at MAX_RESCHEDULE_DELAY_MS.
 */
export function rescheduleDelayMs(policy: ReschedulePolicy, previous: number): number {
  const cap = Math.max(policy.afterMs, MAX_RESCHEDULE_DELAY_MS);
  return Math.min(policy.afterMs * 2 ** Math.min(previous, 30), cap);
}

/** One reschedule, as stored in `moved:{id}` (id: the replica that failed). */
export interface RescheduleRecord {
  id: string;
  at: number;
  index: number;
  revision: string;
  from: string;
  to: string;
}

/** The contents of `reschedules:{instance}`, parsed. */
export interface RescheduleState {
  /** Failing since (ms), by assignment id. */
  failingSince: Map<string, number>;
  moves: RescheduleRecord[];
  /** The last "cannot move" note announced, by replica index. */
  notes: Map<number, string>;
}

/** Parses `reschedules:{instance}`; fields it cannot read are skipped (and later tidied away). */
export function parseRescheduleState(hash: Record<string, string>): RescheduleState {
  const state: RescheduleState = { failingSince: new Map(), moves: [], notes: new Map() };
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.indexOf(":");
    const kind = field.slice(0, cut);
    const key = field.slice(cut + 1);
    if (kind === "failing" && Number.isFinite(Number(value))) state.failingSince.set(key, Number(value));
    else if (kind === "note") state.notes.set(Number(key), value);
    else if (kind === "moved") {
      try {
        const m = JSON.parse(value) as Partial<RescheduleRecord>;
        if (typeof m.at === "number" && typeof m.index === "number") {
          state.moves.push({ id: key, at: m.at, index: m.index, revision: String(m.revision ?? ""), from: m.from ?? "", to: m.to ?? "" });
        }
      } catch {
        /* unreadable: tidied away as too old */
      }
    }
  }
  return state;
}

/** A failing replica as the decision needs it. */
export interface FailingReplica {
  index: number;
  revision: bigint;
  node: string;
}

/** What to do about one failing replica now. */
export type RescheduleDecision =
  /** Not failing long enough yet: look again in `ms`. */
  | { kind: "wait"; ms: number }
  /** Too many reschedules in the window: stays where it is until `until`. */
  | { kind: "give-up"; until: number; note: string }
  /** Place a replacement away from `avoid`; this would be reschedule number `attempt` in the window. */
  | { kind: "move"; avoid: ReadonlySet<string>; attempt: number };

/**
 * Decides for a replica failing since `since`. Only reschedules of the instance's current
 * revision count: a spec change is a fresh start. The replacement avoids the replica's node and
 * every node a replica of this instance (any index) failed on within the window.
 */
export function decideReschedule(policy: ReschedulePolicy, state: RescheduleState, replica: FailingReplica, since: number, now: number): RescheduleDecision {
  const revision = String(replica.revision);
  const recent = state.moves.filter((m) => m.revision === revision && now - m.at < policy.intervalMs);
  const mine = recent.filter((m) => m.index === replica.index).sort((a, b) => a.at - b.at);
  if (mine.length >= policy.attempts) {
    // The count drops below the limit when the oldest move that keeps it there leaves the window.
    const until = mine[mine.length - policy.attempts]!.at + policy.intervalMs;
    const times = mine.length === 1 ? "once" : `${mine.length} times`;
    return {
      kind: "give-up",
      until,
      note: `rescheduled ${times} in the last ${formatSpan(policy.intervalMs)}; giving up until ${new Date(until).toISOString()}`,
    };
  }
  const due = since + rescheduleDelayMs(policy, mine.length);
  if (now < due) return { kind: "wait", ms: due - now };
  return { kind: "move", avoid: new Set([replica.node, ...recent.map((m) => m.from)]), attempt: mine.length + 1 };
}

/** "(avoiding node gpu-3 where it failed)", or "(avoiding nodes gpu-3, gpu-1 where it failed)". */
export function avoidPhrase(avoid: ReadonlySet<string>): string {
  const nodes = [...avoid];
  return `(avoiding ${nodes.length === 1 ? "node" : "nodes"} ${nodes.join(", ")} where it failed)`;
}

/** A window for messages: "hour", "2 hours", "10 minutes", "1.5 s". */
export function formatSpan(ms: number): string {
  const unit = (n: number, one: string) => (n === 1 ? one : `${n} ${one}s`);
  if (ms % 3_600_000 === 0) return unit(ms / 3_600_000, "hour");
  if (ms % 60_000 === 0) return unit(ms / 60_000, "minute");
  return `${+(ms / 1000).toFixed(1)} s`;
}
