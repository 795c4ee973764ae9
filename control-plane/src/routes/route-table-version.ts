import { createHash } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { RouteTableSchema, type Route, type UnreadyInstance } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import { runScript } from "../scheduler/lua-scripts.ts";
import type { KeySchema } from "../store/keys.ts";

/**
 * The version of the served route table follows its content, all of it. Route changes bump
 * `routes-version` where they are written (heartbeats, retirement, node loss, create, delete),
 * but the unready list is computed on read from instance and replica records, so a reason that
 * changes ("starting" → "crash_loop") moves no counter by itself. Each computed table is therefore
 * stamped: its content hash is compared, in Redis, with the content its version was first served
 * with, and a difference takes the next version. The same content keeps its version, and every
 * control-plane process agrees on what a version stands for.
 *
 * Two processes reading at the same moment can compute the table from reads a moment apart; if
 * the older one stamps last, it takes one version for slightly stale content, and the next read
 * (the bump nudges every watcher) takes another for the current content. Versions only grow, so
 * routers never go back.
 */

/** A hash of what a router gets from the table: routes and unready entries, not the version. */
export function routeTableContentHash(routes: readonly Route[], unready: readonly UnreadyInstance[]): string {
  // Both lists arrive sorted and protobuf binary of equal messages is equal, so equal content
  // gives an equal hash.
  const bytes = toBinary(RouteTableSchema, create(RouteTableSchema, { routes: [...routes], unready: [...unready] }));
  return createHash("sha256").update(bytes).digest("hex").slice(0, 32);
}

/**
 * The version to serve a table computed from a snapshot at `snapshotVersion` with: the same one
 * when its content is what that version stands for, the next one when the content changed since.
 */
export async function stampRouteTable(
  redis: Redis, keys: KeySchema, snapshotVersion: bigint, routes: readonly Route[], unready: readonly UnreadyInstance[],
): Promise<bigint> {
  const version = await runScript(redis, "stamp-routes", [keys.routesVersion(), keys.routesContent()],
    [String(snapshotVersion), routeTableContentHash(routes, unready), keys.changesChannel()]);
  return BigInt(String(version));
}
