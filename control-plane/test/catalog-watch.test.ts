import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { WatchMirror, type WatchPoint } from "@tei-fleet/core/watch";
import { RouteService, type WatchEvent } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, expect, it } from "vitest";
import { bearer, JOIN, READ, waitFor } from "./api-fixtures.ts";
import { startCatalogApi } from "./catalog-fixtures.ts";

// The catalog rides in the route watch routers already follow: one stream, one version, and a
// catalog change costs a router the changed entry alone.
let api: Awaited<ReturnType<typeof startCatalogApi>>;
const aborts: AbortController[] = [];
beforeAll(async () => {
  api = await startCatalogApi();
});
afterAll(async () => {
  for (const a of aborts) a.abort();
  await api.close();
});

/** A router's watch over gRPC with the join token, from `position` (none: a snapshot). */
function watch(position?: WatchPoint, token = JOIN) {
  const client = createClient(RouteService, createGrpcTransport({ baseUrl: api.url, interceptors: [bearer(token)] }));
  const abort = new AbortController();
  aborts.push(abort);
  const stream = client.watchRouteChanges({ position }, { signal: abort.signal })[Symbol.asyncIterator]();
  const events: WatchEvent[] = [];
  return {
    events,
    stop: () => abort.abort(),
    async next(): Promise<WatchEvent> {
      const result = await stream.next();
      if (result.done) throw new Error("watch ended");
      events.push(result.value.event!);
      return result.value.event!;
    },
  };
}

/** What a delta changed, as `+collection:key` / `-collection:key`. */
function changes(event: WatchEvent): string[] {
  if (event.kind.case !== "delta") return [];
  const up = event.kind.value.upserted.map((u) => {
    const v = u.value;
    const key =
      v.case === "catalogAlias"
        ? v.value.name
        : v.case === "catalogModel"
          ? v.value.modelId
          : v.case === "catalogBackend"
            ? v.value.backend?.name
            : v.case === "route"
              ? v.value.assignmentId
              : v.case === "unreadyInstance"
                ? v.value.instanceName
                : v.value?.id;
    return `+${v.case}:${key}`;
  });
  const down = event.kind.value.removed.map((k) => `-${k.key.case}:${k.key.value}`);
  return [...up, ...down].sort();
}

/** Reads events until a delta or snapshot arrives (keepalives skipped). */
async function nextChange(w: ReturnType<typeof watch>): Promise<WatchEvent> {
  for (;;) {
    const e = await w.next();
    if (e.kind.case !== "keepalive") return e;
  }
}

it("delivers the catalog in the route watch: a snapshot with routes and catalog, then only the catalog's delta", async () => {
  // An instance with no node is unready: the route table has an entry the deltas must not repeat.
  await api.rest("POST", "/instances", { name: "emb", model_id: "BAAI/bge-small-en-v1.5" });
  await api.rest("PUT", "/catalog/aliases/embed", { targets: [{ model_id: "BAAI/bge-small-en-v1.5" }] });
  await api.rest("PUT", "/catalog/backends/remote", { kind: "openai", url: "https://api.example.com/v1", api_key: "sk-routers-only-0123456789" });

  const first = watch();
  const mirror = new WatchMirror();
  await waitFor("a snapshot with the instance and the catalog", async () => {
    const e = await nextChange(first);
    mirror.apply(e);
    return mirror.get("unreadyInstance", "emb") && mirror.get("catalogAlias", "embed") && mirror.get("catalogBackend", "remote");
  });
  expect(first.events[0]!.kind.case).toBe("snapshot");
  // Routers (join token) get the upstream key; the API never shows it.
  expect(mirror.get("catalogBackend", "remote")?.apiKey).toBe("sk-routers-only-0123456789");
  expect(mirror.get("catalogAlias", "embed")?.targets[0]?.target).toEqual({ case: "modelId", value: "BAAI/bge-small-en-v1.5" });

  const at = mirror.position()!;
  await api.rest("PATCH", "/catalog/models/BAAI/bge-small-en-v1.5", { enabled: false, reason: "rollback" });
  const delta = await nextChange(first);
  expect(delta.kind.case).toBe("delta");
  expect(delta.kind.case === "delta" && delta.kind.value.fromVersion).toBe(at.version);
  expect(changes(delta)).toEqual(["+catalogModel:BAAI/bge-small-en-v1.5"]);
  mirror.apply(delta);
  expect(mirror.get("catalogModel", "BAAI/bge-small-en-v1.5")?.enabled).toBe(false);
  first.stop();

  // Away for a while: changes meanwhile arrive as one delta from the position it had.
  const held = mirror.position()!;
  await api.rest("DELETE", "/catalog/aliases/embed");
  await api.rest("PUT", "/catalog/aliases/canary", {
    targets: [
      { model_id: "BAAI/bge-small-en-v1.5", weight: 95 },
      { backend: "remote", weight: 5 },
    ],
  });
  const resumed = watch(held);
  const caughtUp = await nextChange(resumed);
  expect(caughtUp.kind.case).toBe("delta");
  expect(caughtUp.kind.case === "delta" && caughtUp.kind.value.fromVersion).toBe(held.version);
  expect(changes(caughtUp)).toEqual(["+catalogAlias:canary", "-catalogAlias:embed"]);
  mirror.apply(caughtUp);
  expect([...mirror.values("catalogAlias")].map((a) => a.name)).toEqual(["canary"]);
  expect(mirror.get("unreadyInstance", "emb")).toBeDefined();
  resumed.stop();
});

it("serves the watch (and so the upstream keys) to the join or admin token only", async () => {
  const w = watch(undefined, READ);
  const err = await w.next().then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code).toBe(Code.PermissionDenied);
});
