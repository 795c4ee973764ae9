/**
 * gRPC's `grpc-timeout` header (gRPC over HTTP/2: at most 8 digits and a unit: H, M, S, m, u, n).
 * The router reads it to know a call's deadline and writes what is left of it when it retries.
 */

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** The timeout in milliseconds, or undefined when the header is absent or malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unit = UNIT_MS[value[value.length - 1] as string];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^\d+$/.test(digits)) return undefined;
  return Number(digits) * unit;
}

/** Formats a timeout (ms, rounded up to whole ms, at least 1) as a header value. */
export function formatGrpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole < 100_000_000 ? `${whole}m` : `${Math.ceil(whole / 1000)}S`;
}
