import type { StoredInstance } from "../store/instance-repository.ts";
import { instanceHealth } from "./instance-health.ts";
import { instanceView } from "./instance-view.ts";
import { type RequestMetrics, scrapeRequestMetrics } from "./tei-metrics.ts";

/** `GET /instances/:name/info`: seed 001 #4's shape, plus the model's facts and placement. */
export interface InstanceInfoView {
  name: string;
  model_id: string;
  port: number | null;
  prometheus_port: number | null;
  gpu_id: number | null;
  status: string;
  pid: number | null;
  uptime_seconds: number;
  created_at: string | null;
  node: string | null;
  address: string | null;
  revision: number;
  replicas: number;
  health: { healthy: boolean; last_check: string | null; consecutive_failures: number; error?: string };
  config: {
    max_batch_tokens: number | null;
    max_concurrent_requests: number | null;
    pooling: string | null;
    extra_args: string[];
    startup_timeout_secs: number | null;
  };
  /** What TEI's Info RPC reported (via the agent); null until a replica has loaded the model. */
  model: { model_type: string; dimension: number | null; max_input_length: number; dtype: string; version: string } | null;
  /** Request metrics scraped from TEI's Prometheus endpoints; null when none could be read. */
  metrics: RequestMetrics | null;
  /** Why `metrics` is null, when it is. */
  metrics_error?: string;
}

/**
 * Builds the info view. Model facts come from the replicas' reports (TEI's Info RPC, relayed by
 * the agent in heartbeats); request metrics are scraped live from TEI, which costs up to
 * `scrapeTimeoutMs` when a replica does not answer.
 */
export async function instanceInfo(stored: StoredInstance, scrapeTimeoutMs = 1000, now = Date.now()): Promise<InstanceInfoView> {
  const view = instanceView(stored.instance, stored.replicas, now);
  const health = instanceHealth(stored, now);
  const spec = stored.instance.spec;
  const withModel = stored.replicas.find((r) => r.model && r.model.modelType !== "");
  const metrics = await scrapeRequestMetrics(stored.replicas, scrapeTimeoutMs);
  const running = stored.replicas.some((r) => r.status === "running");
  return {
    name: view.name,
    model_id: view.model_id,
    port: view.port,
    prometheus_port: view.prometheus_port,
    gpu_id: view.gpu_id,
    status: view.status,
    pid: view.pid,
    uptime_seconds: health.uptime_seconds,
    created_at: view.created_at,
    node: view.node,
    address: view.address,
    revision: view.revision,
    replicas: stored.replicas.length,
    health: {
      healthy: health.healthy,
      last_check: health.last_check,
      consecutive_failures: health.consecutive_failures,
      ...(health.error !== undefined ? { error: health.error } : {}),
    },
    config: {
      max_batch_tokens: spec?.maxBatchTokens ?? null,
      max_concurrent_requests: spec?.maxConcurrentRequests ?? null,
      pooling: spec?.pooling ?? null,
      extra_args: [...(spec?.extraArgs ?? [])],
      startup_timeout_secs: spec?.startupTimeoutSecs ?? null,
    },
    model: withModel?.model
      ? {
          model_type: withModel.model.modelType,
          dimension: withModel.model.dimension ?? null,
          max_input_length: withModel.model.maxInputLength,
          dtype: withModel.model.modelDtype,
          version: withModel.model.version,
        }
      : null,
    metrics: metrics ?? null,
    ...(metrics ? {} : { metrics_error: running ? "no running replica's TEI Prometheus endpoint answered" : "no replica is running" }),
  };
}
