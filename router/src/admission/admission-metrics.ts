/**
 * The fleet admission's gauges, read when Prometheus scrapes (nothing is counted per call): the
 * unary calls holding one of the router's in-flight slots, the calls waiting in its queues, and
 * the keys it holds. Refusals are in `tei_router_requests_total` by their code
 * (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED).
 */
import { Gauge, type Registry } from "prom-client";
import type { FleetAdmission } from "./fleet-admission.ts";

/** Registers the admission gauges of `admission` in `registry`. */
export function registerAdmissionMetrics(registry: Registry, admission: FleetAdmission): void {
  new Gauge({
    name: "tei_router_admission_slots_in_use",
    help: "Unary calls holding one of the router's in-flight slots (--max-inflight).",
    registers: [registry],
    collect() {
      this.set(admission.queue?.inflight ?? 0);
    },
  });
  new Gauge({
    name: "tei_router_admission_queued_calls",
    help: "Calls waiting in the router's per-model queues for a slot.",
    registers: [registry],
    collect() {
      this.set(admission.queue?.waiting ?? 0);
    },
  });
  new Gauge({
    name: "tei_router_api_keys",
    help: "API keys the router holds.",
    registers: [registry],
    collect() {
      this.set(admission.keys.size);
    },
  });
}
