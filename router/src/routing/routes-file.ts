/**
 * A static route table read from a JSON file, for benchmarks, tests and small fixed setups that
 * run without a control plane:
 * `{"version": 1, "routes": [{"instanceName", "modelId", "node", "address", "assignmentId", "replica", "pooling"}],
 * "unready": [{"instanceName", "modelId", "reason"}]}` (`unready` is optional: instances that exist
 * but are not ready, answered UNAVAILABLE instead of NOT_FOUND).
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import type { RouteInput } from "./replica.ts";
import type { UnreadyInput } from "./route-table.ts";

const RouteSchema = z.object({
  instanceName: z.string().min(1),
  modelId: z.string().min(1),
  node: z.string().default(""),
  address: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, "address must be host:port"),
  assignmentId: z.string().default(""),
  replica: z.number().int().nonnegative().default(0),
  pooling: z.string().default(""),
});

const UnreadySchema = z.object({
  instanceName: z.string().min(1),
  modelId: z.string().default(""),
  reason: z.string().default(""),
});

/** The schema of a routes file. */
export const RoutesFileSchema = z.object({
  version: z.number().int().nonnegative().default(1),
  routes: z.array(RouteSchema),
  unready: z.array(UnreadySchema).default([]),
});

/** A parsed routes file. */
export interface StaticTable {
  version: bigint;
  routes: RouteInput[];
  unready: UnreadyInput[];
}

/**
 * Reads and validates a routes file.
 * @throws Error naming the file and the offending field when it is unreadable or invalid
 */
export async function loadRoutesFile(path: string): Promise<StaticTable> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read routes file ${path}: ${(err as Error).message}`);
  }
  const parsed = RoutesFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid routes file ${path}: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  return { version: BigInt(parsed.data.version), routes: parsed.data.routes, unready: parsed.data.unready };
}
