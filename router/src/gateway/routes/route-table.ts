/**
 * The gateway's paths, and the path prefixes that choose a model or an instance:
 * `/m/<model or alias>/<route>` and `/i/<instance>/<route>`, e.g.
 * `/m/BAAI/bge-small-en-v1.5/v1/embeddings` (a base URL of `.../m/BAAI/bge-small-en-v1.5/v1` for
 * an OpenAI SDK) or `/i/bge-small/embed`. Names may hold `/` (model ids do) and may be
 * percent-encoded; the route is the longest known path the rest ends with.
 */
import type { RouteSpec } from "../gateway-request.ts";
import { OPENAI_EMBEDDINGS } from "./openai-embeddings.ts";
import { TEI_RERANK, V1_RERANK, V2_RERANK } from "./rerank.ts";
import { METRICS, OPENAI_MODEL, OPENAI_MODELS, TEI_HEALTH, TEI_INFO } from "./service-routes.ts";
import { TEI_EMBED } from "./tei-embed.ts";
import { TEI_EMBED_ALL, TEI_EMBED_SPARSE } from "./tei-embed-variants.ts";
import { TEI_INVOCATIONS } from "./tei-invocations.ts";
import { TEI_PREDICT } from "./tei-predict.ts";
import { TEI_SIMILARITY } from "./tei-similarity.ts";
import { TEI_DECODE, TEI_TOKENIZE } from "./tei-tokenize.ts";
import { TEI_VERTEX } from "./tei-vertex.ts";

/** Every path the gateway answers. */
export const ROUTES: ReadonlyMap<string, RouteSpec> = new Map<string, RouteSpec>([
  ["/v1/embeddings", OPENAI_EMBEDDINGS],
  ["/embeddings", OPENAI_EMBEDDINGS],
  ["/v1/models", OPENAI_MODELS],
  ["/models", OPENAI_MODELS],
  ["/embed", TEI_EMBED],
  ["/embed_sparse", TEI_EMBED_SPARSE],
  ["/embed_all", TEI_EMBED_ALL],
  ["/predict", TEI_PREDICT],
  ["/rerank", TEI_RERANK],
  ["/v1/rerank", V1_RERANK],
  ["/v2/rerank", V2_RERANK],
  ["/similarity", TEI_SIMILARITY],
  ["/tokenize", TEI_TOKENIZE],
  ["/decode", TEI_DECODE],
  ["/info", TEI_INFO],
  ["/health", TEI_HEALTH],
  ["/ping", TEI_HEALTH],
  ["/", TEI_HEALTH],
  ["/metrics", METRICS],
  ["/invocations", TEI_INVOCATIONS],
  ["/vertex", TEI_VERTEX],
]);

/** `POST /` is TEI's default route (by model type); `GET /` its health check. */
const ROOT_POST: RoutedPath = { route: TEI_INVOCATIONS, by: null, name: "" };

/** Route paths, longest first (the prefix match tries them in this order). */
const BY_LENGTH = [...ROUTES.keys()].filter((p) => p !== "/").sort((a, b) => b.length - a.length);

/** A path resolved to its route and the name its prefix chose. */
export interface RoutedPath {
  readonly route: RouteSpec;
  /** From `/m/` ("model") or `/i/` ("instance"); null without a prefix. */
  readonly by: "model" | "instance" | null;
  readonly name: string;
}

/** Unprefixed paths, resolved once. */
const DIRECT = new Map<string, RoutedPath>([...ROUTES].map(([p, route]) => [p, { route, by: null, name: "" }]));

/** `GET /v1/models/{id}` (the id is read from the URL by the route). */
const MODEL_PATH: RoutedPath = { route: OPENAI_MODEL, by: null, name: "" };

/** The route of `path` (no query string) for `method`, or null for an unknown path. */
export function routePath(path: string, method = "GET"): RoutedPath | null {
  if (path === "/" && method === "POST") return ROOT_POST;
  const direct = DIRECT.get(path);
  if (direct !== undefined) return direct;
  if (path.startsWith("/v1/models/") || path.startsWith("/models/")) return MODEL_PATH;
  const c = path.charCodeAt(1);
  if (path.length < 4 || path.charCodeAt(2) !== 47 /* / */ || (c !== 109 /* m */ && c !== 105) /* i */) return null;
  const rest = path.slice(3);
  for (const p of BY_LENGTH) {
    if (rest.length > p.length && rest.endsWith(p)) {
      let name = rest.slice(0, rest.length - p.length);
      try {
        name = decodeURIComponent(name);
      } catch {
        return null;
      }
      return { route: ROUTES.get(p) as RouteSpec, by: c === 109 ? "model" : "instance", name };
    }
  }
  return null;
}
