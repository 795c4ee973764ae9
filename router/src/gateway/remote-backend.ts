/**
 * Serving a request whose name resolved to a remote backend (the model catalog's
 * `catalog_backend`): the gateway forwards it over HTTP with undici instead of making TEI gRPC
 * calls. Two routes are forwarded, in either direction of translation:
 *
 * | route | backend `openai` | backend `tei` |
 * |---|---|---|
 * | `POST /v1/embeddings` | `POST {url}/embeddings`, `model: upstream_model` | `POST {url}/embed`, answer turned into OpenAI's list |
 * | `POST /embed` | `POST {url}/embeddings` (float), answer turned into TEI's `[[...]]` | `POST {url}/embed` as sent |
 *
 * Every other route answers 400 naming the limitation. The upstream key goes as
 * `authorization: Bearer` and nowhere else: not in a log line, not in an error (an upstream's
 * 401/403, whose message may quote the key, becomes the gateway's own 502). A call that gets no
 * answer, times out or is answered 5xx counts against the backend's health (RemoteHealth): a
 * few in a row eject it for a while, and aliases prefer their other targets meanwhile.
 */
import { Agent, request } from "undici";
import { emptyField, GatewayError, invalidField } from "./gateway-error.ts";
import type { GatewayRequest } from "./gateway-request.ts";
import { isIdArray, optInt, text, textList } from "./json-fields.ts";
import type { RemoteTarget } from "./remote-backend-target.ts";

/** One connection pool for every remote backend (undici keeps one per origin). */
const AGENT = new Agent({ keepAliveTimeout: 30_000, connections: 128 });

const JSON_TYPE = "application/json";
/** Each request's "client left" signal. */
const clientGone = new WeakMap<GatewayRequest, AbortSignal>();
/** Inputs per request forwarded (OpenAI's limit; TEI's routes take more but backends vary). */
const MAX_INPUTS = 2048;

interface Upstream {
  status: number;
  json: unknown;
  tokens: number;
}

/** Serves `rq` (its model resolved to `t`) on the remote backend. */
export async function serveRemote(rq: GatewayRequest, body: Record<string, unknown>, t: RemoteTarget): Promise<void> {
  const route = rq.route.name;
  // A client that leaves cancels the upstream call (after the answer this aborts nothing).
  const gone = new AbortController();
  rq.res.on("close", () => gone.abort());
  clientGone.set(rq, gone.signal);
  if (route === "/v1/embeddings") return openaiRoute(rq, body, t);
  if (route === "/embed") return teiRoute(rq, body, t);
  throw new GatewayError(
    400,
    `model "${rq.resolved.name}" is served by the remote backend "${t.name}" (${t.kind}): the gateway forwards only /v1/embeddings and /embed to remote backends, not ${route}`,
    "Validation",
    "model",
    "unsupported_for_remote_backend",
  );
}

/** `POST /v1/embeddings` on a remote backend. */
async function openaiRoute(rq: GatewayRequest, body: Record<string, unknown>, t: RemoteTarget): Promise<void> {
  const name = rq.resolved.name;
  const base64 = body.encoding_format === "base64";
  const dimensions = optInt(body, "dimensions", 1);
  if (t.kind === "openai") {
    const up = await call(rq, t, "/embeddings", { ...body, model: t.upstreamModel || name });
    const answer = up.json as { data?: unknown; usage?: { prompt_tokens?: number } };
    if (typeof answer !== "object" || answer === null || !Array.isArray(answer.data)) throw badAnswer(t, "no `data` list");
    noteTokens(rq, Number(answer.usage?.prompt_tokens ?? 0));
    answerJson(rq, t, JSON.stringify({ ...answer, model: name }));
    return;
  }
  const input = body.input;
  if (Array.isArray(input) && (isIdArray(input) || input.some((x) => Array.isArray(x)))) {
    throw invalidField("input", `token arrays cannot be sent to the TEI backend "${t.name}": send text (LangChain: check_embedding_ctx_length=False)`);
  }
  const texts = typeof input === "string" ? [text(input, "input")] : textList(input, "input", MAX_INPUTS);
  if (texts.some((s) => s.length === 0)) throw emptyField("input", "must not be an empty string");
  const up = await call(rq, t, "/embed", { inputs: texts, truncate: true, normalize: true, ...(dimensions === undefined ? {} : { dimensions }) });
  const vectors = teiVectors(up.json, t, texts.length);
  noteTokens(rq, up.tokens);
  let out = '{"object":"list","data":[';
  for (let i = 0; i < vectors.length; i++) {
    if (i > 0) out += ",";
    const v = vectors[i] as number[];
    out += `{"object":"embedding","index":${i},"embedding":${base64 ? `"${Buffer.from(Float32Array.from(v).buffer).toString("base64")}"` : JSON.stringify(v)}}`;
  }
  out += `],"model":${JSON.stringify(name)},"usage":{"prompt_tokens":${up.tokens},"total_tokens":${up.tokens}}}`;
  answerJson(rq, t, out);
}

/** TEI's `POST /embed` (and seed 003's `{model, texts}` shape) on a remote backend. */
async function teiRoute(rq: GatewayRequest, body: Record<string, unknown>, t: RemoteTarget): Promise<void> {
  const seed = body.texts !== undefined && body.inputs === undefined;
  const texts = textList(seed ? body.texts : body.inputs, seed ? "texts" : "inputs", MAX_INPUTS);
  const dimensions = optInt(body, "dimensions", 1);
  let vectors: number[][];
  let tokens: number;
  if (t.kind === "tei") {
    const { model: _model, texts: _texts, options: _options, ...rest } = body;
    const up = await call(rq, t, "/embed", { ...rest, inputs: texts });
    vectors = teiVectors(up.json, t, texts.length);
    tokens = up.tokens;
  } else {
    const up = await call(rq, t, "/embeddings", {
      model: t.upstreamModel || rq.resolved.name,
      input: texts,
      encoding_format: "float",
      ...(dimensions === undefined ? {} : { dimensions }),
    });
    const answer = up.json as { data?: { index?: number; embedding?: unknown }[]; usage?: { prompt_tokens?: number } };
    if (typeof answer !== "object" || answer === null || !Array.isArray(answer.data) || answer.data.length !== texts.length) {
      throw badAnswer(t, `expected ${texts.length} embeddings`);
    }
    vectors = new Array<number[]>(texts.length);
    for (const d of answer.data) {
      const i = d.index ?? -1;
      if (!Number.isInteger(i) || i < 0 || i >= texts.length || !Array.isArray(d.embedding)) throw badAnswer(t, "an embedding without a valid index");
      vectors[i] = d.embedding as number[];
    }
    tokens = Number(answer.usage?.prompt_tokens ?? 0);
  }
  noteTokens(rq, tokens);
  if (!seed) {
    answerJson(rq, t, JSON.stringify(vectors));
    return;
  }
  const dims = vectors.length > 0 ? (vectors[0] as number[]).length : 0;
  answerJson(rq, t, JSON.stringify({ model: rq.resolved.name, embeddings: vectors, dimensions: dims, usage: { prompt_tokens: tokens, total_tokens: tokens } }));
}

/** TEI's `[[f32,...],...]`, checked. */
function teiVectors(json: unknown, t: RemoteTarget, n: number): number[][] {
  if (!Array.isArray(json) || json.length !== n || !json.every((v) => Array.isArray(v))) throw badAnswer(t, `expected ${n} embeddings`);
  return json as number[][];
}

function answerJson(rq: GatewayRequest, t: RemoteTarget, out: string): void {
  rq.send(200, out, JSON_TYPE, ["x-tei-backend", t.name]);
}

/** Notes the upstream's token count for a key's tokens-per-minute limit. */
function noteTokens(rq: GatewayRequest, tokens: number): void {
  const call = rq.admission;
  if (call !== null && call.computeTokens === 0 && Number.isFinite(tokens) && tokens > 0) call.computeTokens = tokens;
}

function badAnswer(t: RemoteTarget, what: string): GatewayError {
  return new GatewayError(502, `remote backend "${t.name}" gave an unreadable answer: ${what}`, "Backend", null, "backend_error");
}

/** POSTs `json` to the backend's `path`; a refusal or failure becomes the gateway's error. */
async function call(rq: GatewayRequest, t: RemoteTarget, path: string, json: unknown): Promise<Upstream> {
  const headers: Record<string, string> = { "content-type": JSON_TYPE, accept: JSON_TYPE, "x-request-id": rq.requestId };
  if (t.apiKey !== "") headers.authorization = `Bearer ${t.apiKey}`;
  let status: number;
  let raw: string;
  let tokens = 0;
  try {
    const res = await request(`${t.url}${path}`, {
      method: "POST",
      dispatcher: AGENT,
      headers,
      body: JSON.stringify(json),
      headersTimeout: t.timeoutMs,
      bodyTimeout: t.timeoutMs,
      signal: abortSignal(rq, t.timeoutMs),
    });
    status = res.statusCode;
    raw = await res.body.text();
    const ct = res.headers["x-compute-tokens"];
    if (typeof ct === "string") tokens = Number(ct) || 0;
  } catch (err) {
    if (clientGone.get(rq)?.aborted === true) throw new GatewayError(499, "client closed the request", "Backend", null, "client_closed");
    const timeout = (err as Error).name === "TimeoutError" || /timeout/i.test((err as Error).name + (err as { code?: string }).code);
    failed(rq, t, timeout ? "timeout" : (err as Error).message);
    if (timeout) throw new GatewayError(504, `remote backend "${t.name}" did not answer within ${t.timeoutMs} ms`, "Backend", null, "timeout");
    throw new GatewayError(502, `remote backend "${t.name}" could not be reached`, "Backend", null, "backend_error", 1000);
  }
  if (status >= 500) {
    failed(rq, t, `answered ${status}`);
    throw new GatewayError(502, `remote backend "${t.name}" answered ${status}`, "Backend", null, "backend_error", 1000);
  }
  t.health.ok();
  if (status === 401 || status === 403) {
    // The fleet's credentials, not the caller's: and the upstream's message may quote the key.
    rq.gw.log.warn({ backend: t.name, status }, "remote backend refused the router's credentials");
    throw new GatewayError(502, `remote backend "${t.name}" refused the fleet's credentials (${status})`, "Backend", null, "backend_auth_error");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    if (status >= 400) throw new GatewayError(status, `remote backend "${t.name}" answered ${status}`, "Backend", null, "backend_error");
    throw badAnswer(t, "not JSON");
  }
  if (status >= 300) {
    const msg = upstreamMessage(parsed, t).slice(0, 500);
    const teiType = status === 429 ? "Overloaded" : status === 413 || status === 422 ? "Validation" : "Backend";
    throw new GatewayError(
      status,
      `remote backend "${t.name}" answered ${status}: ${msg}`,
      teiType,
      null,
      status === 429 ? "overloaded" : "backend_error",
      status === 429 ? 1000 : 0,
    );
  }
  return { status, json: parsed, tokens };
}

/** Aborts on the call's timeout or when the client leaves. */
function abortSignal(rq: GatewayRequest, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  const gone = clientGone.get(rq);
  return gone === undefined ? timeout : AbortSignal.any([timeout, gone]);
}

/** The message of an upstream's error body (TEI's `error`, OpenAI's `error.message`), without the key. */
function upstreamMessage(body: unknown, t: RemoteTarget): string {
  let m = "";
  if (typeof body === "object" && body !== null) {
    const e = (body as { error?: unknown }).error;
    if (typeof e === "string") m = e;
    else if (typeof e === "object" && e !== null && typeof (e as { message?: unknown }).message === "string") m = (e as { message: string }).message;
  }
  return t.apiKey !== "" ? m.split(t.apiKey).join("[redacted]") : m;
}

function failed(rq: GatewayRequest, t: RemoteTarget, reason: string): void {
  const ejected = t.health.failed();
  rq.gw.log.warn({ backend: t.name, url: t.url, reason, ejected }, ejected ? "remote backend ejected" : "remote backend call failed");
}
