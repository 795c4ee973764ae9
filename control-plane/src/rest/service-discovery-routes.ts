import type { ReplicaPhase } from "@tei-fleet/core";
import type { Node, Replica } from "@tei-fleet/proto/fleet/v1";
import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../api/api-context.ts";

/** One target group of Prometheus HTTP service discovery. */
export interface ScrapeTargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/**
 * Replicas that have a process to scrape (a TEI's Prometheus port only exists once started); not
 * one that is stopping (leaving) or at rest. Typed with core's phases: a misspelt one does not compile.
 */
const SCRAPABLE: ReadonlySet<string> = new Set<ReplicaPhase>(["starting", "running", "unhealthy"]);

/**
 * Prometheus targets for the whole fleet, in Prometheus's HTTP service discovery format: every
 * TEI process's own Prometheus port (`te_*` metrics, labelled with instance, model, node and
 * replica) and every node agent's `/metrics`. Point a `http_sd_configs` job at it, with a read
 * token as `authorization` credentials, and the fleet is scraped as it moves.
 */
export function scrapeTargets(instances: { replicas: Replica[]; model: string; name: string }[], nodes: Node[]): ScrapeTargetGroup[] {
  const groups: ScrapeTargetGroup[] = [];
  for (const { name, model, replicas } of instances) {
    for (const r of replicas) {
      if (!SCRAPABLE.has(r.status) || !r.prometheusPort || !r.address) continue;
      const host = r.address.slice(0, r.address.lastIndexOf(":"));
      groups.push({
        targets: [`${host}:${r.prometheusPort}`],
        labels: { job: "tei", tei_instance: name, tei_model: model, tei_node: r.node, tei_replica: String(r.index) },
      });
    }
  }
  for (const node of nodes) {
    if (!node.agentUrl || node.state !== "ready") continue;
    groups.push({
      targets: [new URL(node.agentUrl).host],
      labels: { job: "tei-node-agent", tei_node: node.name, __metrics_path__: "/metrics" },
    });
  }
  return groups;
}

/** `GET /sd/prometheus`: the fleet's scrape targets (read scope). */
export async function serviceDiscoveryRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    "/sd/prometheus",
    {
      schema: {
        tags: ["fleet"],
        summary: "Prometheus HTTP service discovery targets",
        description: "Every TEI process's Prometheus port and every node agent's /metrics, as [{targets, labels}] for Prometheus http_sd_configs.",
      },
    },
    async () => {
      const [instances, nodes] = await Promise.all([ctx.instances.list(), ctx.nodes.list()]);
      return scrapeTargets(
        instances.map((s) => ({ name: s.instance.spec?.name ?? "", model: s.instance.spec?.modelId ?? "", replicas: s.replicas })),
        nodes,
      );
    },
  );
}
