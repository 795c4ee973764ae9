import { create } from "@bufbuild/protobuf";
import { type InstanceSpec, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { describe, expect, it } from "vitest";
import { defaultModelMemoryMb, UNKNOWN_MODEL_MEMORY_MB } from "../src/scheduler/model-memory.ts";
import type { NodeView } from "../src/scheduler/node-view.ts";
import { place, type ReplicaRequest } from "../src/scheduler/placement.ts";
import { replicaRequest } from "../src/scheduler/placement-request.ts";

function node(name: string, gpusMb: number[], extra: Partial<NodeView> = {}): NodeView {
  return {
    name,
    address: "10.0.0.1",
    epoch: "1",
    state: "ready",
    cordoned: false,
    draining: false,
    labels: {},
    gpus: gpusMb.map((totalMb, index) => ({ index, uuid: `GPU-${name}-${index}`, totalMb, usedMb: 0 })),
    capacity: 0,
    count: 0,
    portStart: 20000,
    portEnd: 20999,
    ports: new Set(),
    ...extra,
  };
}
const spec = (fields: Partial<Omit<InstanceSpec, "$typeName">>) => create(InstanceSpecSchema, { name: "emb", modelId: "BAAI/bge-small-en-v1.5", ...fields });
const req = (fields: Partial<Omit<InstanceSpec, "$typeName">>, index = 0, peers: ReplicaRequest["peers"] = []) => replicaRequest(spec(fields), index, peers);

/** Places `count` replicas one after the other, applying each claim like the claim script would. */
function placeAll(fields: Partial<Omit<InstanceSpec, "$typeName">>, nodes: NodeView[], count: number) {
  const peers: Array<{ node: string; gpuIds: number[] }> = [];
  const out: Array<{ node: string; gpus: number[] }> = [];
  for (let i = 0; i < count; i++) {
    const r = req(fields, i, peers);
    const d = place(r, nodes);
    if (!d.fits) throw new Error(d.reason);
    for (const id of d.gpuIds) d.node.gpus[id]!.usedMb += r.memoryMb;
    d.node.ports.add(d.port).add(d.prometheusPort);
    d.node.count++;
    peers.push({ node: d.node.name, gpuIds: d.gpuIds });
    out.push({ node: d.node.name, gpus: d.gpuIds });
  }
  return out;
}

describe("placement by GPU memory", () => {
  it("several small instances share one GPU while their memory fits, then the next GPU opens", () => {
    const nodes = [node("a", [10_000, 10_000])];
    const placed = placeAll({ gpuMemoryMb: 3000n }, nodes, 4);
    expect(placed.map((p) => p.gpus[0])).toEqual([placed[0]!.gpus[0], placed[0]!.gpus[0], placed[0]!.gpus[0], 1 - placed[0]!.gpus[0]!]);
  });

  it("an instance larger than any free GPU is pending with the reason", () => {
    const nodes = [node("a", [8000]), node("b", [8000])];
    nodes[0]!.gpus[0]!.usedMb = 6000;
    const d = place(req({ gpuMemoryMb: 9000n }), nodes);
    expect(d).toEqual({ fits: false, reason: "insufficient GPU memory on 0/2 eligible nodes" });
  });

  it("derives the memory from the model when the spec gives none", () => {
    expect(defaultModelMemoryMb("BAAI/bge-small-en-v1.5")).toBe(2048);
    expect(defaultModelMemoryMb("sentence-transformers/all-mpnet-base-v2")).toBe(3072);
    expect(defaultModelMemoryMb("BAAI/bge-large-en-v1.5")).toBe(4096);
    expect(defaultModelMemoryMb("BAAI/bge-reranker-base")).toBe(3072);
    expect(defaultModelMemoryMb("someone/unknown-model")).toBe(UNKNOWN_MODEL_MEMORY_MB);
    expect(req({ modelId: "BAAI/bge-large-en-v1.5" }).memoryMb).toBe(4096);
  });
});

describe("placement by GPU count", () => {
  it("gives a replica as many GPUs as it asks for, on one node", () => {
    const nodes = [node("small", [80_000]), node("big", [80_000, 80_000, 80_000, 80_000])];
    const d = place(req({ gpuCount: 2 }), nodes);
    expect(d.fits && d.node.name).toBe("big");
    expect(d.fits && d.gpuIds).toHaveLength(2);
  });

  it("explains when no node has that many GPUs", () => {
    const d = place(req({ gpuCount: 4 }), [node("a", [80_000, 80_000])]);
    expect(d.fits).toBe(false);
    expect(!d.fits && d.reason).toBe("too few GPUs on 0/1 eligible nodes");
  });

  it("runs gpu_count 0 on CPU with no GPU claimed", () => {
    const d = place(req({ gpuCount: 0 }), [node("cpu", [])]);
    expect(d.fits && d.gpuIds).toEqual([]);
  });
});

describe("pinning", () => {
  it("a pinned node and gpu_id are honoured", () => {
    const nodes = [node("a", [80_000, 80_000]), node("b", [80_000, 80_000])];
    const d = place(req({ node: "b", gpuId: 1 }), nodes);
    expect(d.fits && [d.node.name, d.gpuIds]).toEqual(["b", [1]]);
  });

  it("an unknown pinned node leaves the replica pending with the node named", () => {
    const d = place(req({ node: "ghost" }), [node("a", [80_000])]);
    expect(!d.fits && d.reason).toBe('pinned node "ghost" is not registered');
  });

  it("a cordoned pinned node is named as such", () => {
    const d = place(req({ node: "a" }), [node("a", [80_000], { cordoned: true })]);
    expect(!d.fits && d.reason).toBe('pinned node "a" is cordoned');
  });

  it("a fixed port already taken on a node rules that node out", () => {
    const a = node("a", [80_000]);
    a.ports.add(30000);
    const d = place(req({ port: 30000 }), [a, node("b", [80_000])]);
    expect(d.fits && [d.node.name, d.port]).toEqual(["b", 30000]);
  });
});

describe("node selector", () => {
  it("only nodes carrying every selector label are eligible", () => {
    const nodes = [node("a", [80_000], { labels: { gpu: "a100" } }), node("h", [80_000], { labels: { gpu: "h100", zone: "eu" } })];
    const d = place(req({ nodeSelector: { gpu: "h100", zone: "eu" } }), nodes);
    expect(d.fits && d.node.name).toBe("h");
  });

  it("a selector nothing matches is pending with a reason", () => {
    const d = place(req({ nodeSelector: { gpu: "b200" } }), [node("a", [80_000])]);
    expect(!d.fits && d.reason).toBe("no eligible nodes (1 not matching the node selector)");
  });
});

describe("policies", () => {
  it("binpack fills the fullest GPU that fits before opening another node", () => {
    const nodes = [node("a", [80_000, 80_000]), node("b", [80_000, 80_000])];
    nodes[1]!.gpus[0]!.usedMb = 40_000;
    nodes[1]!.count = 1;
    const d = place(req({ gpuMemoryMb: 10_000n }), nodes);
    expect(d.fits && [d.node.name, d.gpuIds]).toEqual(["b", [0]]);
  });

  it("spread puts replicas of one instance on different nodes, then different GPUs", () => {
    const nodes = [node("a", [80_000, 80_000]), node("b", [80_000, 80_000]), node("c", [80_000, 80_000])];
    const placed = placeAll({ placementPolicy: "spread", replicas: 6 }, nodes, 6);
    expect(new Set(placed.slice(0, 3).map((p) => p.node)).size).toBe(3);
    const slots = new Set(placed.map((p) => `${p.node}/${p.gpus[0]}`));
    expect(slots.size).toBe(6);
  });

  it("binpack keeps replicas together where spread would not", () => {
    const nodes = [node("a", [80_000, 80_000]), node("b", [80_000, 80_000])];
    const placed = placeAll({ replicas: 3 }, nodes, 3);
    expect(new Set(placed.map((p) => `${p.node}/${p.gpus[0]}`)).size).toBe(1);
  });
});

describe("node state and capacity", () => {
  it("cordoned, draining and lost nodes get nothing", () => {
    const nodes = [node("c", [80_000], { cordoned: true }), node("d", [80_000], { draining: true }), node("l", [80_000], { state: "lost" })];
    const d = place(req({}), nodes);
    expect(!d.fits && d.reason).toBe("no eligible nodes (1 cordoned, 1 draining, 1 lost)");
  });

  it("a node at its process capacity is skipped", () => {
    const nodes = [node("full", [80_000], { capacity: 2, count: 2 }), node("free", [80_000], { capacity: 2 })];
    const d = place(req({}), nodes);
    expect(d.fits && d.node.name).toBe("free");
  });

  it("allocates the first free ports of the node's range, distinct for gRPC and Prometheus", () => {
    const a = node("a", [80_000], { portStart: 21000, portEnd: 21010 });
    a.ports.add(21000);
    const d = place(req({}), [a]);
    expect(d.fits && [d.port, d.prometheusPort]).toEqual([21001, 21002]);
  });
});

describe("GPU index", () => {
  it("binpack through the index chooses exactly what a full scan chooses", async () => {
    const { GpuIndex } = await import("../src/scheduler/gpu-index.ts");
    const { tieHash } = await import("../src/scheduler/placement.ts");
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const nodes = Array.from({ length: 60 }, (_, i) =>
      node(`n${i}`, [40_000, 40_000, 80_000, 80_000], {
        labels: { zone: `z${i % 3}` },
        cordoned: i % 17 === 0,
        capacity: i % 5 === 0 ? 3 : 0,
      }),
    );
    const index = new GpuIndex((name) => tieHash(name, 42));
    for (const n of nodes) index.update(n);
    for (let i = 0; i < 300; i++) {
      const r = req({ gpuMemoryMb: BigInt(1024 * (1 + rand(20))), nodeSelector: i % 4 === 0 ? { zone: "z1" } : {} }, 0);
      const scanned = place(r, nodes, { salt: 42 });
      const indexed = place(r, nodes, { salt: 42, index });
      expect(indexed.fits && [indexed.node.name, indexed.gpuIds]).toEqual(scanned.fits && [scanned.node.name, scanned.gpuIds]);
      if (!indexed.fits) continue;
      indexed.node.gpus[indexed.gpuIds[0]!]!.usedMb += r.memoryMb;
      indexed.node.ports.add(indexed.port).add(indexed.prometheusPort);
      indexed.node.count++;
      index.update(indexed.node);
    }
  });
});
