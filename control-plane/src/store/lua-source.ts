import { readFileSync } from "node:fs";

/**
 * The one way Lua scripts are read: a line `--- @include "path"` (BullMQ's form) is replaced by
 * that file, `path` relative to the including file and without `.lua`. What several scripts do
 * alike (read a stored revision, append to a change log) is written once, in the included file,
 * instead of pasted into each script. A file is included at most once per script, so two
 * includes of one snippet define its functions once; includes may include.
 */
export function readLuaSource(url: URL): string {
  return resolve(url, new Set());
}

const INCLUDE = /^--- @include "([^"]+)"[ \t]*$/gm;

function resolve(url: URL, included: Set<string>): string {
  included.add(url.href);
  return readFileSync(url, "utf8").replace(INCLUDE, (_line, path: string) => {
    const target = new URL(`${path}.lua`, url);
    return included.has(target.href) ? "" : resolve(target, included);
  });
}
