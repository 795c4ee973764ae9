/**
 * The route watch's catalog and key collections on the router: fed to the catalog view and the
 * key table entry by entry, and a delta that touches neither a route nor an unready entry leaves
 * the route table alone (no rebuild, no in-place apply).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { deltaEvent, snapshotEvent, watchEntry, watchKey } from "@tei-fleet/core/watch";
import {
  CatalogAliasSchema,
  RouterApiKeySchema,
  RouteSchema,
  RouteService,
  type RouteTable,
  RouteTableSchema,
  type WatchEvent,
} from "@tei-fleet/proto/fleet/v1";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { hashApiKey } from "../../src/admission/api-key-view.ts";
import { KeyTable } from "../../src/admission/key-table.ts";
import { WatchedKeys } from "../../src/admission/watched-keys.ts";
import { createCatalogFeed } from "../../src/catalog/catalog-feed.ts";
import { CatalogView } from "../../src/catalog/catalog-view.ts";
import { type RouteWatcher, startRouteWatcher } from "../../src/routing/route-watcher.ts";
import { until } from "../support/until.ts";

const queue: WatchEvent[] = [];
let wake: (() => void) | null = null;
let server: Server;
let watcher: RouteWatcher;
const calls = { tables: 0, changes: 0 };
const sources: string[] = [];
/** The control plane's side: `fail` refuses watches (GetRoutes still answers); positions watches resumed from. */
const cp = { fail: false, positions: [] as string[], table: undefined as RouteTable | undefined };
const catalog = new CatalogView();
const keys = new KeyTable();
const H = hashApiKey("tfk_watched");

function send(e: WatchEvent): void {
  queue.push(e);
  wake?.();
}

beforeAll(async () => {
  const routes = (router: ConnectRouter): void => {
    router.service(RouteService, {
      getRoutes: () => ({ table: cp.table, epoch: "e1" }),
      async *watchRouteChanges(req, ctx) {
        cp.positions.push(req.position === undefined ? "" : `${req.position.epoch}/${req.position.version}`);
        if (cp.fail) throw new ConnectError("away", Code.Unavailable);
        for (;;) {
          // A stream whose connection went takes nothing from the queue.
          if (ctx.signal.aborted) return;
          if (queue.length > 0) {
            yield { event: queue.shift() };
            continue;
          }
          await new Promise<void>((r) => {
            wake = r;
            ctx.signal.addEventListener("abort", () => r(), { once: true });
          });
        }
      },
      reportBackendFailure: () => ({}),
    });
  };
  server = createServer(connectNodeAdapter({ routes }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  send(
    snapshotEvent("e1", 1n, [
      watchEntry({ case: "route", value: create(RouteSchema, { assignmentId: "a-1", instanceName: "a", modelId: "m", address: "127.0.0.1:1", node: "n1" }) }),
      watchEntry({
        case: "catalogAlias",
        value: create(CatalogAliasSchema, { name: "embed", targets: [{ target: { case: "modelId", value: "m" }, weight: 1 }] }),
      }),
      watchEntry({ case: "apiKey", value: create(RouterApiKeySchema, { id: "k_1", name: "search", sha256: H }) }),
    ]),
  );
  const feed = createCatalogFeed(catalog, new WatchedKeys(keys));
  watcher = startRouteWatcher({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    joinToken: undefined,
    log: pino({ level: "silent" }),
    resyncIntervalMs: 100,
    minBackoffMs: 50,
    maxBackoffMs: 100,
    currentVersion: () => 0n,
    onTable: (_t, source) => {
      calls.tables++;
      sources.push(source);
    },
    onChanges: () => calls.changes++,
    onWatch: (mirror, applied) => void feed(mirror, applied),
  });
});

afterAll(async () => {
  watcher?.stop();
  server?.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

test("a snapshot feeds routes, catalog and keys; catalog and key deltas leave the route table alone", async () => {
  await watcher.firstTable;
  await until(() => calls.tables === 1);
  expect(catalog.alias("embed")?.targets).toHaveLength(1);
  expect(keys.get(H)?.id).toBe("k_1");

  // A catalog change and a revocation: no table work at all.
  send(
    deltaEvent(
      1n,
      2n,
      [watchEntry({ case: "catalogAlias", value: create(CatalogAliasSchema, { name: "embed", enabled: false, reason: "off" }) })],
      [watchKey("apiKey", "k_1")],
    ),
  );
  await until(() => keys.get(H) === undefined);
  expect(catalog.alias("embed")?.enabled).toBe(false);
  expect(calls).toEqual({ tables: 1, changes: 0 });

  // A route change is applied in place, as before.
  send(deltaEvent(2n, 3n, [], [watchKey("route", "a-1")]));
  await until(() => calls.changes === 1);
  expect(calls.tables).toBe(1);
});

test("a GetRoutes resync while the watch is down keeps the catalog and keys, and makes the watch start over with a snapshot", async () => {
  await until(() => calls.changes === 1);
  const H2 = hashApiKey("tfk_second");
  send(deltaEvent(3n, 4n, [watchEntry({ case: "apiKey", value: create(RouterApiKeySchema, { id: "k_2", name: "second", sha256: H2 }) })], []));
  await until(() => keys.get(H2) !== undefined);
  // The watch breaks and cannot be reopened; GetRoutes answers a newer table.
  cp.fail = true;
  cp.table = create(RouteTableSchema, {
    version: 9n,
    routes: [create(RouteSchema, { assignmentId: "b-1", instanceName: "b", modelId: "m", address: "127.0.0.1:2", node: "n1" })],
  });
  server.closeAllConnections();
  await until(() => sources.includes("resync"));
  // The catalog and keys are as they were.
  expect(keys.get(H2)?.name).toBe("second");
  expect(catalog.alias("embed")).toBeDefined();
  // Back: the watch resumes from a position the server does not know, so it gets a snapshot.
  const seen = cp.positions.length;
  queue.length = 0;
  send(snapshotEvent("e1", 10n, [watchEntry({ case: "apiKey", value: create(RouterApiKeySchema, { id: "k_3", name: "third", sha256: H }) })]));
  cp.fail = false;
  await until(() => keys.get(H)?.name === "third");
  expect(keys.get(H2)).toBeUndefined();
  expect(catalog.alias("embed")).toBeUndefined();
  expect(cp.positions.slice(seen)).toContain("e1~resync/9");
});
