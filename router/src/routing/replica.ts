/**
 * A routable TEI replica as the router keeps it: the route the control plane (or a routes file)
 * published, plus what this router learns about it while serving (consecutive failures, an
 * ejection) and what it caches on it (the backend connection, metric children). One object per
 * replica survives every table update that keeps the replica, so none of that is lost.
 */
import type { Route } from "@tei-fleet/proto/fleet/v1";
import type { Backend } from "../backends/backend-pool.ts";
import type { MethodMetrics } from "../metrics/method-metrics.ts";

/**
 * One route as the control plane (or a routes file) describes it: the fields of
 * tei_fleet.v1.Route (`address` is host:port of the replica's TEI gRPC server; `pooling`, empty or
 * absent when TEI takes it from the model, only answers the gateway's /info).
 */
export type RouteInput = Omit<Route, "$typeName" | "$unknown" | "pooling"> & { readonly pooling?: string };

/**
 * A routable TEI replica. The same object survives table updates that keep it, so its failure
 * count, ejection and cached metric children persist.
 */
export interface Replica extends Readonly<RouteInput> {
  /** Consecutive infrastructure failures (connection errors, UNAVAILABLE). */
  failures: number;
  /** Epoch ms until which the replica is ejected; 0 when it is not. */
  ejectedUntil: number;
  /** How many times it has been ejected since its last success (grows the ejection time). */
  ejections: number;
  /** The HTTP/2 connection holder, attached by the backend pool on first use. */
  backend: Backend | null;
  /** Metric children per method id, filled lazily by the metrics module. */
  metrics: (MethodMetrics | undefined)[];
}

/** A fresh replica for a route, with no failures; `backend` carries over a connection already open to its address. */
export function newReplica(route: RouteInput, backend: Backend | null): Replica {
  return { ...route, failures: 0, ejectedUntil: 0, ejections: 0, backend, metrics: [] };
}

/**
 * True when the replica may take traffic now: it is not ejected, or its ejection has run out
 * (which puts it back in rotation). Every choice of a replica (balancers, indexes) asks this.
 */
export function isReady(r: Replica): boolean {
  if (r.ejectedUntil === 0) return true;
  if (r.ejectedUntil > Date.now()) return false;
  r.ejectedUntil = 0;
  return true;
}
