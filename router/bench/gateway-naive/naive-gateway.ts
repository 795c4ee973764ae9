/**
 * The benchmark's baseline: an HTTP gateway written the obvious way, as most teams would on a
 * first try. fastify parses the JSON body; a Connect gRPC client (@connectrpc/connect-node) sends
 * one unary tei.v1.Embed per input, all at once, and decodes each answer into numbers; the reply
 * is built as a plain object and fastify re-encodes it as JSON (base64 goes through a
 * Float32Array copy). It serves OpenAI's `POST /v1/embeddings` (float and base64) and TEI's
 * `POST /embed` for a fixed model → TEI address map, with no batching across replicas, no
 * retries and no error shapes beyond a 400: just enough to be the honest "before".
 *
 * Usage: node naive-gateway.ts --listen 127.0.0.1:PORT --backend MODEL=HOST:PORT [--backend ...]
 * Prints `naive gateway listening on HOST:PORT` once it serves.
 */
import { parseArgs } from "node:util";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed } from "@tei-fleet/proto/tei/v1";
import Fastify from "fastify";

const { values } = parseArgs({
  options: {
    listen: { type: "string", default: "127.0.0.1:8090" },
    backend: { type: "string", multiple: true, default: [] },
  },
});

/** One Connect client per model, each on its own HTTP/2 connection to the model's TEI. */
const clients = new Map<string, Client<typeof Embed>>();
for (const spec of values.backend) {
  const i = spec.lastIndexOf("=");
  clients.set(spec.slice(0, i), createClient(Embed, createGrpcTransport({ baseUrl: `http://${spec.slice(i + 1)}` })));
}
const [defaultModel] = clients.keys();

/** Embeds every input with one unary call each, in parallel. */
async function embedAll(model: string | undefined, inputs: string[], normalize = true) {
  const client = clients.get(model ?? (defaultModel as string));
  if (client === undefined) throw Object.assign(new Error(`unknown model ${model}`), { statusCode: 404 });
  return Promise.all(inputs.map((text) => client.embed({ inputs: text, truncate: true, normalize })));
}

const app = Fastify({ logger: false, bodyLimit: 2_000_000 });

interface OpenAIBody {
  input: string | string[];
  model?: string;
  encoding_format?: "float" | "base64";
}

app.post<{ Body: OpenAIBody }>("/v1/embeddings", async (req) => {
  const { input, model, encoding_format } = req.body;
  const inputs = typeof input === "string" ? [input] : input;
  if (!Array.isArray(inputs) || inputs.length === 0) throw Object.assign(new Error("input must be a non-empty string or array"), { statusCode: 400 });
  const answers = await embedAll(model, inputs);
  let tokens = 0;
  const data = answers.map((a, index) => {
    tokens += a.metadata?.computeTokens ?? 0;
    const embedding = encoding_format === "base64" ? Buffer.from(new Float32Array(a.embeddings).buffer).toString("base64") : a.embeddings;
    return { object: "embedding", embedding, index };
  });
  return { object: "list", data, model: model ?? defaultModel, usage: { prompt_tokens: tokens, total_tokens: tokens } };
});

interface TeiBody {
  inputs: string | string[];
  normalize?: boolean;
}

app.post<{ Body: TeiBody }>("/embed", async (req) => {
  const { inputs, normalize } = req.body;
  const list = typeof inputs === "string" ? [inputs] : inputs;
  const model = req.headers["x-tei-model"];
  const answers = await embedAll(typeof model === "string" ? model : undefined, list, normalize ?? true);
  return answers.map((a) => a.embeddings);
});

const i = values.listen.lastIndexOf(":");
const host = values.listen.slice(0, i);
const port = Number(values.listen.slice(i + 1));
await app.listen({ host, port });
process.stderr.write(`naive gateway listening on ${host}:${port}\n`);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void app.close().then(() => process.exit(0)));
