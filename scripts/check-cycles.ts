/**
 * The dependency check the test command runs: no import cycle between files, and none between
 * the folders of a package (`control-plane/src/rest` may use `store`, but then `store` may not
 * use `rest`, not even through a third folder). Dependencies that point one way are what keep
 * each folder understandable on its own; madge finds the file graph, this script adds the
 * folder graph on top of it.
 *
 * Usage: node scripts/check-cycles.ts   (exits 1 listing every cycle found)
 */
import { dirname, relative, resolve } from "node:path";
import madge from "madge";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
/** The production code of each package (tests and benches may import across freely). */
const SOURCES = ["core/src", "control-plane/src", "node-agent/src", "router/src", "proto/src"];

/**
 * Folder cycles accepted for now (reported, not failing). Empty: the control plane's were taken
 * apart. A cycle added here must say why and go away; a listed one that has gone fails the check,
 * so the list only shrinks.
 */
const KNOWN_FOLDER_CYCLES = new Set<string>([]);

const graph = await madge(
  SOURCES.map((s) => resolve(ROOT, s)),
  {
    baseDir: ROOT,
    fileExtensions: ["ts"],
    tsConfig: resolve(ROOT, "tsconfig.json"),
    excludeRegExp: [/\/gen\//, /\.test\.ts$/],
  },
);
const files = graph.obj();

const problems: string[] = [];
for (const cycle of graph.circular()) problems.push(`file cycle: ${cycle.join(" -> ")} -> ${cycle[0]}`);

// Folder graph: an edge a -> b for every file in a importing a file in b (same package only).
const folderOf = (file: string) => dirname(relative(ROOT, resolve(ROOT, file)));
const edges = new Map<string, Set<string>>();
for (const [file, deps] of Object.entries(files)) {
  const from = folderOf(file);
  for (const dep of deps) {
    const to = folderOf(dep);
    if (to === from || to.split("/")[0] !== from.split("/")[0]) continue;
    // A package's entry folder (src/) re-exports its parts: its children may not import it.
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from)!.add(to);
  }
}
const known: string[] = [];
for (const cycle of stronglyConnected(edges)) {
  const text = cycle.join(" <-> ");
  if (KNOWN_FOLDER_CYCLES.has(text)) known.push(text);
  else problems.push(`folder cycle: ${text}`);
}
for (const text of KNOWN_FOLDER_CYCLES) {
  if (!known.includes(text)) problems.push(`known folder cycle is gone or changed, update KNOWN_FOLDER_CYCLES: ${text}`);
}
if (known.length > 0) console.log(`known folder cycles, still to be taken apart (${known.length}):\n  ${known.join("\n  ")}`);

if (problems.length > 0) {
  console.error(`dependency cycles (${problems.length}):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`no new dependency cycles (${Object.keys(files).length} files, ${edges.size} folders with outgoing edges)`);

/** Tarjan's algorithm: the groups of folders that reach each other (groups of one left out). */
function stronglyConnected(g: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) out.push(group.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}
