/**
 * Per-key usage as this router counts it (issue 12 item 6): per (key, model), the admitted calls
 * that got an answer, their inputs and TEI's token counts (`x-compute-tokens`), and the calls
 * refused, by reason. Counting is a two-level map lookup and a few additions: nothing is
 * allocated per call once a (key, model) has been seen.
 *
 * Counters are cumulative (the router's metrics show them, usage-metrics.ts); {@link drain}
 * hands the increase since the previous drain to the usage reporter (usage-reporter.ts), which
 * delivers it to the control plane, resending it until acknowledged.
 */
import type { ApiKeyView } from "./api-key-view.ts";

/** Why a call of a known key was refused (the control plane's names). */
export const REFUSAL_REASONS = ["rate_limited", "queue_full", "deadline", "unauthenticated", "permission_denied"] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
const REASON_INDEX: Record<RefusalReason, number> = { rate_limited: 0, queue_full: 1, deadline: 2, unauthenticated: 3, permission_denied: 4 };

/** The counters of one (key, model). */
export class UsageCounters {
  readonly keyId: string;
  /** The key's id as the control plane knows it; undefined for a keys-file key without one. */
  readonly reportable: boolean;
  readonly keyName: string;
  readonly model: string;
  requests = 0;
  inputs = 0;
  tokens = 0;
  readonly refused = [0, 0, 0, 0, 0];
  // What the last drain handed over.
  private sent = [0, 0, 0, 0, 0, 0, 0, 0];

  constructor(keyId: string, reportable: boolean, keyName: string, model: string) {
    this.keyId = keyId;
    this.reportable = reportable;
    this.keyName = keyName;
    this.model = model;
  }

  /** The increase since the previous call, and marks it handed over; undefined when none. */
  take(): UsageDelta | undefined {
    const now = [this.requests, this.inputs, this.tokens, ...this.refused];
    const d = now.map((v, i) => v - (this.sent[i] ?? 0));
    if (d.every((v) => v === 0)) return undefined;
    this.sent = now;
    const refused: Partial<Record<RefusalReason, number>> = {};
    REFUSAL_REASONS.forEach((r, i) => {
      const n = d[3 + i] ?? 0;
      if (n > 0) refused[r] = n;
    });
    return { keyId: this.keyId, model: this.model, requests: d[0] ?? 0, inputs: d[1] ?? 0, tokens: d[2] ?? 0, refused };
  }
}

/** What one (key, model) used in a report's window. */
export interface UsageDelta {
  readonly keyId: string;
  readonly model: string;
  readonly requests: number;
  readonly inputs: number;
  readonly tokens: number;
  readonly refused: Readonly<Partial<Record<RefusalReason, number>>>;
}

/** Most (key, model) pairs counted; pairs beyond are counted under model "other" (metrics stay bounded). */
export const MAX_MODELS_PER_KEY = 100;

/** Most entries one usage report may hold (the control plane's limit). */
export const MAX_REPORT_ENTRIES = 10_000;

/** The router's usage counters. */
export class UsageMeter {
  private readonly byKey = new Map<string, Map<string, UsageCounters>>();

  /** The counters of `key` and `model` (created on first use). */
  counters(key: ApiKeyView, model: string): UsageCounters {
    const id = key.id ?? key.name;
    let models = this.byKey.get(id);
    if (models === undefined) {
      models = new Map();
      this.byKey.set(id, models);
    }
    let c = models.get(model);
    if (c === undefined) {
      const m = models.size >= MAX_MODELS_PER_KEY ? "other" : model;
      c = models.get(m) ?? new UsageCounters(id, key.id !== undefined, key.name, m);
      models.set(m, c);
    }
    return c;
  }

  /** An answered call: one request, its inputs and its tokens (≤ 0: not counted). */
  answered(key: ApiKeyView, model: string, inputs: number, tokens: number): void {
    const c = this.counters(key, model);
    c.requests++;
    c.inputs += inputs;
    if (tokens > 0) c.tokens += tokens;
  }

  /** A refused call of a known key. */
  refused(key: ApiKeyView, model: string, reason: RefusalReason): void {
    (this.counters(key, model).refused[REASON_INDEX[reason]] as number)++;
  }

  /** Every counter, for the metrics. */
  *all(): IterableIterator<UsageCounters> {
    for (const models of this.byKey.values()) yield* models.values();
  }

  /**
   * The increase since the previous drain, of keys the control plane knows (with an id): at most
   * `max` entries (what one report may hold); the rest wait for the next drain.
   */
  drain(max = MAX_REPORT_ENTRIES): UsageDelta[] {
    const out: UsageDelta[] = [];
    for (const c of this.all()) {
      if (out.length >= max) break;
      if (!c.reportable) continue;
      const d = c.take();
      if (d !== undefined) out.push(d);
    }
    return out;
  }
}
