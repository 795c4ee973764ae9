/**
 * The request bodies of `pnpm bench:gateway`, one set per scenario, written to files for h2load:
 * the direct gRPC call (one framed tei.v1.EmbedRequest for Embed, or N frames in one
 * EmbedStream request body for N inputs: gRPC has no list input), OpenAI's /v1/embeddings in
 * float and base64, and TEI's /embed. Also checks an answer's shape, so a route that answers
 * 200 with the wrong body is not measured as if it worked.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { EmbedRequestSchema } from "@tei-fleet/proto/tei/v1";

/** One benchmark scenario: a model and the inputs of each request. */
export interface Scenario {
  /** Short label, e.g. "1 × 384". */
  label: string;
  modelId: string;
  dim: number;
  inputs: string[];
}

/** The HTTP routes measured, on the gateway and on the naive baseline. */
export const ROUTES = ["/v1/embeddings float", "/v1/embeddings base64", "/embed"] as const;
export type RouteName = (typeof ROUTES)[number];

/** A route's request: URL path, body file, extra headers. */
export interface HttpRequestSpec {
  path: string;
  bodyFile: string;
  body: string;
  headers: Record<string, string>;
}

/** Files of one scenario. */
export interface ScenarioFiles {
  grpc: { path: string; bodyFile: string };
  http: Record<RouteName, HttpRequestSpec>;
}

/** A length-prefixed gRPC message (uncompressed). */
function framed(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  Buffer.from(bytes).copy(out, 5);
  return out;
}

/** `n` distinct passages of about `chars` characters (tokens = code points + 2 in the fake TEI). */
export function passages(n: number, chars: number): string[] {
  const filler = "Text embeddings map passages of natural language to dense vectors for semantic search and retrieval. ";
  return Array.from({ length: n }, (_, i) => `Passage ${i}: ${filler.repeat(Math.ceil(chars / filler.length))}`.slice(0, chars));
}

/** Writes the bodies of a scenario into `dir`. */
export async function writeScenario(dir: string, key: string, s: Scenario): Promise<ScenarioFiles> {
  const frames = s.inputs.map((inputs) => framed(toBinary(EmbedRequestSchema, create(EmbedRequestSchema, { inputs, truncate: true }))));
  const grpcFile = join(dir, `${key}-grpc.bin`);
  await writeFile(grpcFile, Buffer.concat(frames));
  const input = s.inputs.length === 1 ? s.inputs[0] : s.inputs;
  const bodies: Record<RouteName, { path: string; body: unknown; headers: Record<string, string> }> = {
    "/v1/embeddings float": { path: "/v1/embeddings", body: { model: s.modelId, input, encoding_format: "float" }, headers: {} },
    "/v1/embeddings base64": { path: "/v1/embeddings", body: { model: s.modelId, input, encoding_format: "base64" }, headers: {} },
    "/embed": { path: "/embed", body: { inputs: input }, headers: { "x-tei-model": s.modelId } },
  };
  const http = {} as Record<RouteName, HttpRequestSpec>;
  for (const [name, b] of Object.entries(bodies) as [RouteName, (typeof bodies)[RouteName]][]) {
    const bodyFile = join(dir, `${key}-${name.replace(/\W+/g, "_")}.json`);
    const body = JSON.stringify(b.body);
    await writeFile(bodyFile, body);
    http[name] = { path: b.path, bodyFile, body, headers: b.headers };
  }
  return { grpc: { path: s.inputs.length === 1 ? "/tei.v1.Embed/Embed" : "/tei.v1.Embed/EmbedStream", bodyFile: grpcFile }, http };
}

/**
 * Checks that an answer of `route` carries `n` embeddings of `dim` values in input order
 * (OpenAI's `data[].index`); returns what is wrong, or undefined.
 */
export function checkAnswer(route: RouteName, json: unknown, n: number, dim: number): string | undefined {
  if (route === "/embed") {
    if (!Array.isArray(json) || json.length !== n) return `expected ${n} vectors, got ${JSON.stringify(json).slice(0, 120)}`;
    const bad = json.findIndex((v) => !Array.isArray(v) || v.length !== dim);
    return bad === -1 ? undefined : `vector ${bad} does not have ${dim} numbers`;
  }
  const data = (json as { data?: { embedding: unknown; index: number }[] }).data;
  if (!Array.isArray(data) || data.length !== n) return `expected data[${n}], got ${JSON.stringify(json).slice(0, 120)}`;
  for (let i = 0; i < n; i++) {
    const d = data[i] as { embedding: unknown; index: number };
    if (d.index !== i) return `data[${i}].index is ${d.index}`;
    const len = typeof d.embedding === "string" ? Buffer.from(d.embedding, "base64").length / 4 : Array.isArray(d.embedding) ? d.embedding.length : -1;
    if (len !== dim) return `data[${i}].embedding has ${len} values, not ${dim}`;
    if (route.endsWith("base64") !== (typeof d.embedding === "string")) return `data[${i}].embedding is not ${route.endsWith("base64") ? "base64" : "floats"}`;
  }
  return undefined;
}
