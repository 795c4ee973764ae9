import type { ChainableCommander, Redis } from "ioredis";
import { readLuaSource } from "./lua-source.ts";

/**
 * The scheduler's Lua scripts, one per file in ./lua named `<name>-<numberOfKeys>.lua` (BullMQ's
 * convention; each file's header documents its KEYS and ARGV). What several of them do alike,
 * such as recording a route table change in its change log, is one included file
 * (store/lua-source.ts). They are defined on a client with ioredis' defineCommand, which runs
 * EVALSHA and falls back to EVAL, on the client and its pipelines alike.
 */
const FILES = [
  "claim-replica-6",
  "release-replica-8",
  "retire-replica-5",
  "merge-replica-6",
  "set-node-2",
  "node-gone-9",
  "lease-acquire-2",
  "lease-release-1",
  "drain-grant-2",
  "restamp-assignments-3",
  "heartbeat-touch-3",
  "put-unplaced-1",
  "forget-unplaced-1",
  "remove-routes-3",
  "sync-unready-4",
  "node-delete-8",
  "record-reschedule-2",
  "reschedule-note-2",
] as const;

/** The name of a script, without its key count. */
export type ScriptName =
  | "claim-replica"
  | "release-replica"
  | "retire-replica"
  | "merge-replica"
  | "set-node"
  | "node-gone"
  | "lease-acquire"
  | "lease-release"
  | "drain-grant"
  | "restamp-assignments"
  | "heartbeat-touch"
  | "put-unplaced"
  | "forget-unplaced"
  | "remove-routes"
  | "sync-unready"
  | "node-delete"
  | "record-reschedule"
  | "reschedule-note";

const sources = new Map<string, { numberOfKeys: number; lua: string }>();
for (const file of FILES) {
  const cut = file.lastIndexOf("-");
  sources.set(file.slice(0, cut), {
    numberOfKeys: Number(file.slice(cut + 1)),
    lua: readLuaSource(new URL(`./lua/${file}.lua`, import.meta.url)),
  });
}

const commandName = (name: string) => `tf_${name.replaceAll("-", "_")}`;
const defined = new WeakSet<Redis>();

/** Defines every script on a client (once per client). */
export function defineScripts(redis: Redis): void {
  if (defined.has(redis)) return;
  for (const [name, source] of sources) redis.defineCommand(commandName(name), source);
  defined.add(redis);
}

type Caller = (...args: Array<string | number>) => Promise<unknown>;

/** Runs a script with its keys and arguments, on a client or inside a pipeline. */
export function runScript(
  target: Redis | ChainableCommander,
  name: ScriptName,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> {
  const fn = (target as unknown as Record<string, Caller>)[commandName(name)];
  if (!fn) throw new Error(`Lua script ${name} is not defined on this client; call defineScripts first`);
  return fn.call(target, ...keys, ...args);
}
