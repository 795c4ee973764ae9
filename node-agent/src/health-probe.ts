import type { InfoResponse } from "@tei-fleet/proto/tei/v1";
import { delay } from "./async-utils.ts";
import { describeRpcError, healthServiceFor, modelKind, type TeiClient, type TeiModelKind } from "./tei-client.ts";

/**
 * TEI's readiness and liveness checks (tei.md §6.3). Ready: Info answers, then grpc.health says the
 * model's own service is SERVING. Live: a tiny real request answers within a deadline; the caller
 * runs at most one at a time per instance (TEI's backend queue can abort the process when probes
 * pile up, tei.md §9 #424).
 */

/** Outcome of {@link waitUntilServing}. */
export type ReadinessResult = { ready: true; info: InfoResponse; kind: TeiModelKind } | { ready: false; reason: string };

/** Options of {@link waitUntilServing}. */
export interface ReadinessOptions {
  /** Give up at this time (epoch ms). */
  deadlineMs: number;
  /** Time between attempts. Default 250 ms. */
  pollIntervalMs?: number;
  /** Per-call deadline. Default 2000 ms. */
  callTimeoutMs?: number;
  /** Stops waiting (process exited, assignment changed, agent stopping). */
  signal?: AbortSignal;
}

/**
 * Polls until the model's service is SERVING. The model type is not known before TEI answers, so
 * Info comes first and picks the health service to watch.
 */
export async function waitUntilServing(client: TeiClient, options: ReadinessOptions): Promise<ReadinessResult> {
  const poll = options.pollIntervalMs ?? 250;
  const callTimeout = options.callTimeoutMs ?? 2_000;
  let info: InfoResponse | undefined;
  let last = "TEI has not answered yet";
  while (!options.signal?.aborted) {
    const remaining = options.deadlineMs - Date.now();
    if (remaining <= 0) break;
    const timeoutMs = Math.max(1, Math.min(callTimeout, remaining));
    try {
      info ??= await client.info(timeoutMs);
      const kind = modelKind(info.modelType);
      const service = healthServiceFor(kind);
      const status = await client.healthStatus(service, timeoutMs);
      if (status === "SERVING") return { ready: true, info, kind };
      last = `grpc.health reports ${service} ${status}`;
    } catch (error) {
      last = info ? `grpc.health check failed: ${describeRpcError(error)}` : `TEI does not answer Info: ${describeRpcError(error)}`;
    }
    await delay(Math.min(poll, Math.max(0, options.deadlineMs - Date.now())), options.signal);
  }
  return { ready: false, reason: last };
}

/** Outcome of one liveness probe. */
export interface ProbeResult {
  ok: boolean;
  /** Embedding dimension, when the probe was an Embed. */
  dimension?: number;
  latencyMs: number;
  error?: string;
}

/** Sends one liveness request with a deadline; never throws. */
export async function probeOnce(client: TeiClient, kind: TeiModelKind, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  try {
    const { dimension } = await client.probe(kind, timeoutMs);
    return { ok: true, dimension, latencyMs: performance.now() - started };
  } catch (error) {
    return { ok: false, latencyMs: performance.now() - started, error: describeRpcError(error) };
  }
}
