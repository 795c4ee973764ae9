/**
 * The model a call is for, from its target, for the steps that need it before a replica is
 * chosen (a key limited to some models, the per-model queue): the named model, or the model of
 * the named instance in the route table. An index without a model, an instance the table does not
 * have, and a multiplexer call (whose first message names its target, after admission) have none.
 */
import type { RouteTable } from "../routing/route-table.ts";
import type { Target } from "../tei/target.ts";

/** Looks up models of targets in a route table, with the instance → model map cached per table. */
export class CallModels {
  private readonly table: RouteTable;
  private seen: readonly unknown[] | null = null;
  private byInstance = new Map<string, string>();

  constructor(table: RouteTable) {
    this.table = table;
  }

  /** The model id `target` names or implies; undefined when it implies none yet. */
  of(target: Target | null): string | undefined {
    if (target === null) return undefined;
    switch (target.kind) {
      case "model":
        return target.model;
      case "index":
        return target.model;
      case "instance":
        return this.instances().get(target.name);
    }
  }

  private instances(): Map<string, string> {
    // The table swaps its replica list on every change: its identity says when to rebuild.
    const list = this.table.replicas();
    if (list !== this.seen) {
      const m = new Map<string, string>();
      for (const r of list) if (!m.has(r.instanceName)) m.set(r.instanceName, r.modelId);
      this.byInstance = m;
      this.seen = list;
    }
    return this.byInstance;
  }
}
