/**
 * grpc.health.v1.Health with TEI's per-service semantics (tei.md §1.7, tonic-health 0.11):
 * "" always SERVING, tei.v1.Info and tei.v1.Tokenize SERVING from the start, tei.v1.Embed /
 * Predict / Rerank registered NOT_SERVING and only the model type's service(s) flipped by the
 * backend's health, any other name NOT_FOUND. Never protected by --api-key.
 */
import { EventEmitter } from "node:events";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "@tei-fleet/proto/grpc/health/v1";
import type { ModelKind } from "./models.ts";

type ServingStatus = (typeof Status)[keyof typeof Status];

/** The services whose status follows the backend for each model type. */
const MODEL_SERVICES: Record<ModelKind, string[]> = {
  embedding: ["tei.v1.Embed"],
  classifier: ["tei.v1.Predict"],
  reranker: ["tei.v1.Predict", "tei.v1.Rerank"],
};

/** The registered statuses plus change notification for Watch. */
export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>([
    ["", Status.SERVING],
    ["tei.v1.Info", Status.SERVING],
    ["tei.v1.Tokenize", Status.SERVING],
    ["tei.v1.Embed", Status.NOT_SERVING],
    ["tei.v1.Predict", Status.NOT_SERVING],
    ["tei.v1.Rerank", Status.NOT_SERVING],
  ]);
  private readonly events = new EventEmitter();
  private readonly modelServices: string[];
  private healthy = false;
  /** Aborted at shutdown so that open Watch streams end and the server can drain. */
  readonly closing = new AbortController();

  constructor(kind: ModelKind) {
    this.modelServices = MODEL_SERVICES[kind];
    this.events.setMaxListeners(0);
  }

  /** Status of a registered service, or undefined when it is not registered. */
  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Reports the backend's health, like TEI's health watch channel; only changes notify. */
  setBackendHealthy(healthy: boolean): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    const status = healthy ? Status.SERVING : Status.NOT_SERVING;
    for (const service of this.modelServices) {
      this.statuses.set(service, status);
      this.events.emit("change", service);
    }
  }

  /** Streams a service's status: the current one, then every change, until `signal` aborts. */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus> {
    const changed: string[] = [];
    let wake: (() => void) | undefined;
    const onChange = (name: string) => {
      if (name !== service) return;
      changed.push(name);
      wake?.();
    };
    const onAbort = () => wake?.();
    this.events.on("change", onChange);
    signal.addEventListener("abort", onAbort);
    this.closing.signal.addEventListener("abort", onAbort);
    try {
      let last = this.get(service);
      if (last === undefined) return;
      yield last;
      while (!signal.aborted && !this.closing.signal.aborted) {
        if (changed.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        changed.length = 0;
        const now = this.get(service);
        if (now !== undefined && now !== last) yield (last = now);
      }
    } finally {
      this.events.off("change", onChange);
      signal.removeEventListener("abort", onAbort);
      this.closing.signal.removeEventListener("abort", onAbort);
    }
  }
}

/** Registers grpc.health.v1.Health on a Connect router. */
export function registerHealth(router: ConnectRouter, state: HealthState): void {
  router.service(Health, {
    check(req) {
      const status = state.get(req.service);
      if (status === undefined) throw new ConnectError("service not registered", Code.NotFound);
      return { status };
    },
    async *watch(req, ctx) {
      if (state.get(req.service) === undefined) throw new ConnectError("service not registered", Code.NotFound);
      for await (const status of state.watch(req.service, ctx.signal)) yield { status };
    },
  });
}
