/**
 * Delivers the usage meter's counts to the control plane (AdmissionService.ReportUsage) in the
 * background, every interval: the increase since the last acknowledged report, under a sequence
 * number that grows by one per new report. A report whose call fails is resent as it was (same
 * sequence, same counts) until the control plane acknowledges it, and the counts of the meanwhile
 * wait for the next one: the control plane counts each (router, sequence) once, so nothing is lost
 * or counted twice. Its own RPC rather than a field of RenewShares: usage is kept whether or not
 * rate limits are shared, its delivery must not hold back (or be dropped with) a share renewal
 * whose answer the router may ignore, and it goes at its own, slower cadence.
 */
import { create } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { AdmissionService, type ReportUsageRequest, ReportUsageRequestSchema } from "@tei-fleet/proto/fleet/v1";
import { controlPlaneTransport } from "../control-plane-client/control-plane-transport.ts";
import type { UsageDelta, UsageMeter } from "./usage-meter.ts";

/** Sends one report; resolves when the control plane acknowledged it. */
export type UsageSink = (report: ReportUsageRequest) => Promise<void>;

/** A sink that calls the control plane with the join token. */
export function controlPlaneUsageSink(o: { baseUrl: string; joinToken: string | undefined; timeoutMs?: number }): UsageSink {
  const client: Client<typeof AdmissionService> = createClient(AdmissionService, controlPlaneTransport(o.baseUrl, o.joinToken));
  const timeoutMs = o.timeoutMs ?? 2000;
  return async (report) => {
    await client.reportUsage(report, { timeoutMs });
  };
}

/** The report of `deltas`. */
export function usageReport(router: string, sequence: number, deltas: readonly UsageDelta[]): ReportUsageRequest {
  return create(ReportUsageRequestSchema, {
    routerId: router,
    sequence: BigInt(sequence),
    usage: deltas.map((d) => ({
      keyId: d.keyId,
      model: d.model,
      requests: BigInt(d.requests),
      inputs: BigInt(d.inputs),
      tokens: BigInt(d.tokens),
      refused: Object.fromEntries(Object.entries(d.refused).map(([r, n]) => [r, BigInt(n)])),
    })),
  });
}

/** Options of {@link UsageReporter}. */
export interface UsageReporterOptions {
  readonly meter: UsageMeter;
  readonly sink: UsageSink;
  /** This router process's id (as in demand reports). */
  readonly router: string;
  /** Default 1000 ms. */
  readonly intervalMs?: number;
  /** Told when delivery stops or starts working. */
  readonly onSinkChange?: (reachable: boolean, err?: unknown) => void;
}

/** Reports usage every interval, one report in flight at a time. */
export class UsageReporter {
  private readonly o: UsageReporterOptions;
  private sequence = 0;
  private pending: ReportUsageRequest | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private reachable = true;

  constructor(o: UsageReporterOptions) {
    this.o = o;
  }

  /** The report waiting for its acknowledgement, if any (for tests). */
  get unacknowledged(): ReportUsageRequest | null {
    return this.pending;
  }

  /** One round: resends the unacknowledged report, or sends the new counts. */
  flush(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async round(): Promise<void> {
    if (this.pending === null) {
      const deltas = this.o.meter.drain();
      if (deltas.length === 0) return;
      this.sequence++;
      this.pending = usageReport(this.o.router, this.sequence, deltas);
    }
    try {
      await this.o.sink(this.pending);
      this.pending = null;
      if (!this.reachable) {
        this.reachable = true;
        this.o.onSinkChange?.(true);
      }
    } catch (err) {
      if (this.reachable) {
        this.reachable = false;
        this.o.onSinkChange?.(false, err);
      }
    }
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.flush(), this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stops the timer and tries one last delivery. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
