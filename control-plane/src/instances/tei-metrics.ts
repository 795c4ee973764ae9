import type { Replica } from "@tei-fleet/proto/fleet/v1";

/** Request metrics of an instance, summed over its replicas' TEI Prometheus endpoints. */
export interface RequestMetrics {
  total_requests: number;
  successful_requests: number;
  failed_requests: number;
  /** Mean end-to-end request time (te_request_duration), ms; null before the first request. */
  avg_latency_ms: number | null;
  /** failed / total; null before the first request. */
  error_rate: number | null;
  /** Replicas whose TEI answered the scrape, out of those running. */
  replicas_scraped: number;
  replicas_running: number;
}

/** Sums of the TEI metric families the info endpoint uses. */
interface Sums {
  count: number;
  success: number;
  failure: number;
  durationSum: number;
  durationCount: number;
}

/**
 * Sums samples of TEI's Prometheus text by metric name over all label sets. TEI writes counters
 * without the `_total` suffix and emits a metric only after its first use (reference tei.md §7),
 * so a missing family is zero.
 */
export function parseTeiMetrics(text: string): Sums {
  const sums: Sums = { count: 0, success: 0, failure: 0, durationSum: 0, durationCount: 0 };
  const field: Record<string, keyof Sums> = {
    te_request_count: "count",
    te_request_success: "success",
    te_request_failure: "failure",
    te_request_duration_sum: "durationSum",
    te_request_duration_count: "durationCount",
  };
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    const key = match ? field[match[1]!] : undefined;
    if (!key) continue;
    const value = Number(match![3]);
    if (Number.isFinite(value)) sums[key] += value;
  }
  return sums;
}

/** Host part of a replica's `host:port` address (IPv6 in brackets kept). */
function hostOf(address: string): string {
  const i = address.lastIndexOf(":");
  return i > 0 ? address.slice(0, i) : address;
}

/**
 * Scrapes `http://<replica host>:<prometheus_port>/metrics` of every running replica (TEI binds
 * its Prometheus port on the node's address) and sums the request metrics. Replicas that do not
 * answer within `timeoutMs` are left out and counted in `replicas_scraped`; when none answers the
 * result is undefined, and the caller says so instead of inventing numbers.
 */
export async function scrapeRequestMetrics(replicas: readonly Replica[], timeoutMs = 1000): Promise<RequestMetrics | undefined> {
  const running = replicas.filter((r) => r.status === "running" && r.prometheusPort > 0 && r.address !== "");
  const results = await Promise.all(
    running.map(async (r) => {
      try {
        const res = await fetch(`http://${hostOf(r.address)}:${r.prometheusPort}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
        return res.ok ? parseTeiMetrics(await res.text()) : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  const ok = results.filter((s): s is Sums => s !== undefined);
  if (ok.length === 0) return undefined;
  const total = ok.reduce((acc, s) => ({
    count: acc.count + s.count,
    success: acc.success + s.success,
    failure: acc.failure + s.failure,
    durationSum: acc.durationSum + s.durationSum,
    durationCount: acc.durationCount + s.durationCount,
  }));
  return {
    total_requests: total.count,
    successful_requests: total.success,
    failed_requests: total.failure,
    avg_latency_ms: total.durationCount > 0 ? (total.durationSum / total.durationCount) * 1000 : null,
    error_rate: total.count > 0 ? total.failure / total.count : null,
    replicas_scraped: ok.length,
    replicas_running: running.length,
  };
}
