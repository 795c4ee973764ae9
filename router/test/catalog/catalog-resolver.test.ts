import { create } from "@bufbuild/protobuf";
import {
  type AliasTarget,
  BackendHealthStatus,
  CatalogAliasSchema,
  CatalogBackendSchema,
  CatalogModelSchema,
  RemoteBackendKind,
} from "@tei-fleet/proto/fleet/v1";
import { describe, expect, test } from "vitest";
import { CatalogModelResolver } from "../../src/catalog/catalog-resolver.ts";
import { CatalogView } from "../../src/catalog/catalog-view.ts";
import { SmoothWeighted } from "../../src/catalog/smooth-weighted.ts";
import { GatewayError } from "../../src/gateway/gateway-error.ts";
import { type ResolvedModel, RouteTableModelResolver } from "../../src/gateway/model-resolver.ts";
import { type RouteInput, RouteTable } from "../../src/index.ts";

const BGE = "BAAI/bge-small-en-v1.5";
const NEXT = "BAAI/bge-base-en-v1.5";

function route(instanceName: string, modelId: string, port: number): RouteInput {
  return { instanceName, address: `127.0.0.1:${port}`, modelId, node: "node-1", assignmentId: `${instanceName}-a`, replica: 0 };
}

function setup() {
  const table = new RouteTable();
  table.replace([route("bge", BGE, 1), route("bge-next", NEXT, 2)], 1n);
  const catalog = new CatalogView();
  const resolver = new CatalogModelResolver(catalog, new RouteTableModelResolver(table));
  return { table, catalog, resolver };
}

const t = (target: AliasTarget["target"], weight = 1) => ({ target, weight }) as AliasTarget;
const alias = (name: string, targets: AliasTarget[], extra: { enabled?: boolean; reason?: string } = {}) =>
  create(CatalogAliasSchema, { name, targets, ...extra });

function ok(r: ResolvedModel | GatewayError): ResolvedModel {
  if (r instanceof GatewayError) throw new Error(`expected a resolution, got ${r.status} ${r.message}`);
  return r;
}

describe("smooth weighted round-robin", () => {
  test("95/5 is exact in every 100 picks, and the 5 are spread out", () => {
    const w = new SmoothWeighted([95, 5]);
    const picks = Array.from({ length: 2000 }, () => w.pick());
    expect(picks.filter((p) => p === 1)).toHaveLength(100);
    for (let i = 0; i < 2000; i += 100) expect(picks.slice(i, i + 100).filter((p) => p === 1)).toHaveLength(5);
    expect(w.pick(() => false)).toBe(-1);
    expect(w.pick((i) => i === 1)).toBe(1);
  });
});

describe("CatalogModelResolver", () => {
  test("without a catalog entry, model ids and instance names resolve as the route table's resolver does", () => {
    const { resolver } = setup();
    expect(ok(resolver.resolve(BGE, "any"))).toMatchObject({ name: BGE, target: { kind: "model", model: BGE }, modelId: BGE });
    expect(ok(resolver.resolve("bge-next", "any"))).toMatchObject({ target: { kind: "instance", name: "bge-next" }, modelId: NEXT });
    // Unknown: left to the route table (its NOT_FOUND becomes 404).
    expect(ok(resolver.resolve("nope", "any"))).toMatchObject({ modelId: "", target: { kind: "model", model: "nope" } });
  });

  test("an alias 95/5 over a model id and an instance, under the alias's name (answers and admission)", () => {
    const { catalog, resolver } = setup();
    catalog.putAlias(alias("embed", [t({ case: "modelId", value: BGE }, 95), t({ case: "instance", value: "bge-next" }, 5)]));
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const r = ok(resolver.resolve("embed", "any"));
      expect(r.name).toBe("embed");
      expect(r.admissionTarget).toEqual({ kind: "model", model: "embed" });
      counts.set(r.modelId, (counts.get(r.modelId) ?? 0) + 1);
    }
    expect(counts.get(BGE)).toBe(1900);
    expect(counts.get(NEXT)).toBe(100);
  });

  test("alias chains resolve up to 4 steps; longer ones and dangling targets lead nowhere (404)", () => {
    const { catalog, resolver } = setup();
    catalog.putAlias(alias("a1", [t({ case: "alias", value: "a2" })]));
    catalog.putAlias(alias("a2", [t({ case: "alias", value: "a3" })]));
    catalog.putAlias(alias("a3", [t({ case: "alias", value: "a4" })]));
    catalog.putAlias(alias("a4", [t({ case: "modelId", value: BGE })]));
    expect(ok(resolver.resolve("a1", "any"))).toMatchObject({ name: "a1", modelId: BGE });
    catalog.putAlias(alias("a0", [t({ case: "alias", value: "a1" })]));
    expect(resolver.resolve("a0", "any")).toMatchObject({ status: 404, code: "model_not_found" });
    catalog.putAlias(alias("dangling", [t({ case: "backend", value: "nowhere" })]));
    expect(resolver.resolve("dangling", "any")).toMatchObject({ status: 404 });
    // An alias to a model nobody serves: the route table answers it (404 there).
    catalog.putAlias(alias("ghost", [t({ case: "modelId", value: "org/ghost" })]));
    expect(ok(resolver.resolve("ghost", "any"))).toMatchObject({ modelId: "", target: { kind: "model", model: "org/ghost" } });
  });

  test("a disabled model, alias or backend is refused with 503 model_disabled and its reason; re-enabled works", () => {
    const { catalog, resolver } = setup();
    catalog.putModel(create(CatalogModelSchema, { modelId: BGE, enabled: false, reason: "bad revision" }));
    const refused = resolver.resolve(BGE, "any");
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ status: 503, code: "model_disabled", message: `model "${BGE}" is disabled: bad revision` });
    // Its instance too, by either header.
    expect(resolver.resolve("bge", "instance")).toMatchObject({ status: 503, code: "model_disabled" });
    expect(resolver.resolve("bge", "any")).toMatchObject({ status: 503, code: "model_disabled" });
    // Listed no more; the other model is.
    expect(resolver.list().map((e) => e.id)).toEqual([NEXT]);
    catalog.putModel(create(CatalogModelSchema, { modelId: BGE, enabled: true }));
    expect(ok(resolver.resolve(BGE, "any")).modelId).toBe(BGE);

    catalog.putAlias(alias("embed", [t({ case: "modelId", value: BGE })], { enabled: false, reason: "migrating" }));
    expect(resolver.resolve("embed", "any")).toMatchObject({ status: 503, code: "model_disabled", message: 'alias "embed" is disabled: migrating' });
  });

  test("an alias prefers its enabled targets; when all are off the refusal names one", () => {
    const { catalog, resolver } = setup();
    catalog.putAlias(alias("embed", [t({ case: "modelId", value: BGE }, 95), t({ case: "modelId", value: NEXT }, 5)]));
    catalog.putModel(create(CatalogModelSchema, { modelId: BGE, enabled: false }));
    for (let i = 0; i < 20; i++) expect(ok(resolver.resolve("embed", "any")).modelId).toBe(NEXT);
    catalog.putModel(create(CatalogModelSchema, { modelId: NEXT, enabled: false }));
    expect(resolver.resolve("embed", "any")).toMatchObject({ status: 503, code: "model_disabled" });
  });

  test("a remote backend by name or through an alias; down backends are avoided while another target is up", () => {
    const { catalog, resolver } = setup();
    const backend = (name: string, health: BackendHealthStatus = BackendHealthStatus.HEALTHY) =>
      create(CatalogBackendSchema, {
        backend: { name, kind: RemoteBackendKind.OPENAI, url: "http://up.example/v1/", upstreamModel: "text-embedding-3-small", health: { status: health } },
        apiKey: "sk-secret",
      });
    catalog.putBackend(backend("openai-small"));
    const r = ok(resolver.resolve("openai-small", "any"));
    expect(r.remote).toMatchObject({
      name: "openai-small",
      kind: "openai",
      url: "http://up.example/v1",
      upstreamModel: "text-embedding-3-small",
      apiKey: "sk-secret",
    });
    expect(r.admissionTarget).toEqual({ kind: "model", model: "openai-small" });

    catalog.putAlias(alias("embed", [t({ case: "backend", value: "openai-small" }, 50), t({ case: "modelId", value: BGE }, 50)]));
    catalog.putBackend(backend("openai-small", BackendHealthStatus.UNHEALTHY));
    for (let i = 0; i < 10; i++) expect(ok(resolver.resolve("embed", "any")).remote).toBeUndefined();
    // A hint only: called by its own name it is still tried.
    expect(ok(resolver.resolve("openai-small", "any")).remote?.name).toBe("openai-small");
    // Ejected by this router's own failures.
    catalog.putBackend(backend("openai-small"));
    const health = ok(resolver.resolve("openai-small", "any")).remote?.health;
    health?.failed();
    health?.failed();
    expect(health?.failed()).toBe(true);
    for (let i = 0; i < 10; i++) expect(ok(resolver.resolve("embed", "any")).remote).toBeUndefined();

    catalog.putBackend(create(CatalogBackendSchema, { backend: { name: "openai-small", enabled: false, reason: "quota" } }));
    expect(resolver.resolve("openai-small", "any")).toMatchObject({
      status: 503,
      code: "model_disabled",
      message: 'backend "openai-small" is disabled: quota',
    });
  });

  test("/v1/models lists enabled aliases, backends and served models, not disabled ones", () => {
    const { catalog, resolver } = setup();
    catalog.putAlias(alias("embed", [t({ case: "modelId", value: BGE })]));
    catalog.putAlias(alias("off", [t({ case: "modelId", value: BGE })], { enabled: false }));
    catalog.putBackend(create(CatalogBackendSchema, { backend: { name: "remote-tei", kind: RemoteBackendKind.TEI, url: "http://tei" } }));
    catalog.putModel(create(CatalogModelSchema, { modelId: NEXT, enabled: false }));
    expect(resolver.list()).toEqual([
      { id: BGE, ownedBy: "tei-fleet" },
      { id: "embed", ownedBy: "tei-fleet" },
      { id: "remote-tei", ownedBy: "remote:tei" },
    ]);
    expect(resolver.soleModel()).toBeNull(); // two models served
  });
});
