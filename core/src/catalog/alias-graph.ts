/**
 * The rule over all aliases together: following alias targets never comes back to where it
 * started (a cycle would send a router round for ever), and never passes through more than
 * {@link MAX_ALIAS_DEPTH} aliases (a router resolves a name in a bounded number of steps). The
 * control plane applies it to the stored catalog plus the alias being written; `teictl` can
 * apply it to a fleet file before sending anything.
 */
import type { CatalogProblem } from "./catalog-problem.ts";

/** Most aliases one name may pass through (itself included) before it reaches a model, instance or backend. */
export const MAX_ALIAS_DEPTH = 4;

/** Every alias and the aliases it targets (targets of other kinds left out). */
export type AliasGraph = ReadonlyMap<string, readonly string[]>;

/**
 * The first problem the alias graph would have once alias `name` targets `aliasTargets` (the
 * `alias` of each of its targets in target order, undefined for targets of other kinds), or
 * undefined. `stored` is every other alias as stored; it has no cycle, so a new one passes
 * through `name`. A target naming no alias is not a problem here (it may be created later; a
 * router answers 404 for it meanwhile).
 */
export function aliasGraphProblem(name: string, aliasTargets: ReadonlyArray<string | undefined>, stored: AliasGraph): CatalogProblem | undefined {
  const mine = aliasTargets.filter((t): t is string => t !== undefined);
  const edges = (alias: string): readonly string[] => (alias === name ? mine : (stored.get(alias) ?? []));
  for (const [i, target] of aliasTargets.entries()) {
    if (target === undefined) continue;
    const field = `targets.${i}.alias`;
    if (target === name) return { code: "ALIAS_CYCLE", message: `alias '${name}' must not point to itself`, field };
    const back = pathTo(target, name, edges, new Set());
    if (back !== undefined) return { code: "ALIAS_CYCLE", message: `alias '${name}' would make a cycle: ${[name, ...back].join(" → ")}`, field };
  }
  // The longest chain through `name`: the longest that reaches it, then the longest from it.
  const chain = [...longestInto(name, edges, stored).slice(0, -1), ...longestFrom(name, edges, new Map())];
  if (chain.length > MAX_ALIAS_DEPTH) {
    return {
      code: "ALIAS_CYCLE",
      message: `alias chain ${chain.join(" → ")} passes through ${chain.length} aliases; at most ${MAX_ALIAS_DEPTH} may be chained`,
      field: "targets",
    };
  }
  return undefined;
}

type Edges = (alias: string) => readonly string[];

/** A path of aliases from `from` to `to` (both included), or undefined. */
function pathTo(from: string, to: string, edges: Edges, seen: Set<string>): string[] | undefined {
  if (from === to) return [to];
  if (seen.has(from)) return undefined;
  seen.add(from);
  for (const next of edges(from)) {
    const rest = pathTo(next, to, edges, seen);
    if (rest !== undefined) return [from, ...rest];
  }
  return undefined;
}

/** The longest chain of aliases that starts at `alias` (included); the graph is acyclic by now. */
function longestFrom(alias: string, edges: Edges, memo: Map<string, string[]>): string[] {
  const known = memo.get(alias);
  if (known !== undefined) return known;
  let best: string[] = [];
  for (const next of edges(alias)) {
    const chain = longestFrom(next, edges, memo);
    if (chain.length > best.length) best = chain;
  }
  const out = [alias, ...best];
  memo.set(alias, out);
  return out;
}

/** The longest chain of aliases that ends at `alias` (included), walking back over who points at whom. */
function longestInto(alias: string, edges: Edges, stored: AliasGraph): string[] {
  const parents = new Map<string, string[]>();
  for (const other of new Set([...stored.keys(), alias])) {
    for (const t of edges(other)) parents.set(t, [...(parents.get(t) ?? []), other]);
  }
  const memo = new Map<string, string[]>();
  const up = (a: string): string[] => {
    const known = memo.get(a);
    if (known !== undefined) return known;
    let best: string[] = [];
    for (const p of parents.get(a) ?? []) {
      const chain = up(p);
      if (chain.length > best.length) best = chain;
    }
    const out = [...best, a];
    memo.set(a, out);
    return out;
  };
  return up(alias);
}
