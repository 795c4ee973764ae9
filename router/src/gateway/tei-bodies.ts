/**
 * Reading the bodies of TEI's HTTP routes, shared by both ways the gateway serves them (TEI gRPC
 * calls: routes/; a remote TEI's HTTP API: remote-tei-routes.ts), so that bad input gets the same
 * status and message either way: each reader names the field at fault (json-fields.ts) and
 * applies TEI's HTTP defaults (`truncate` true, as TEI >= 1.9's auto-truncate; `normalize`,
 * `add_special_tokens` and `skip_special_tokens` true).
 */
import { emptyField, invalidField } from "./gateway-error.ts";
import type { EmbedOptions } from "./grpc-request.ts";
import { direction, idList, kind, nonEmptyText, optBool, optText, textList } from "./json-fields.ts";

/** Inputs per request on TEI's routes (TEI itself takes max_client_batch_size; the gateway splits). */
export const TEI_MAX_INPUTS = 8192;

/** `inputs` of TEI's embed routes as texts; token ids are refused. */
export function teiInputs(body: Record<string, unknown>, field = "inputs"): string[] {
  const v = body[field];
  if (v === undefined) throw invalidField(field, "missing field");
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (typeof v[i] === "number" || Array.isArray(v[i])) {
        throw invalidField(
          Array.isArray(v[i]) ? `${field}[${i}]` : field,
          "token ids are not supported through the fleet (TEI's gRPC API takes text): send the text",
        );
      }
    }
  }
  return textList(v, field, TEI_MAX_INPUTS);
}

/** The truncation options TEI's HTTP routes share (`truncate` defaults to auto-truncate: true). */
export function embedOptions(body: Record<string, unknown>): EmbedOptions {
  return { truncate: optBool(body, "truncate") ?? true, direction: direction(body), promptName: optText(body, "prompt_name") };
}

/** One sequence: a text, or a list of one or two texts. */
function sequence(v: unknown, field: string): string[] {
  if (typeof v === "string") return [nonEmptyText(v, field)];
  if (Array.isArray(v) && (v.length === 1 || v.length === 2)) return v.map((x, i) => nonEmptyText(x, `${field}[${i}]`));
  throw invalidField(field, `expected a text or a list of one or two texts, got ${kind(v)}`);
}

/** The sequences of `inputs`, and whether it was a batch. */
export function predictInputs(v: unknown): { seqs: string[][]; batch: boolean } {
  if (v === undefined) throw invalidField("inputs", "missing field");
  if (typeof v === "string") return { seqs: [sequence(v, "inputs")], batch: false };
  if (!Array.isArray(v)) throw invalidField("inputs", `expected a text, a pair or a batch, got ${kind(v)}`);
  if (v.length === 0) throw emptyField("inputs", "`inputs` cannot be empty");
  if (v.length === 2 && typeof v[0] === "string" && typeof v[1] === "string") return { seqs: [sequence(v, "inputs")], batch: false };
  if (v.length > TEI_MAX_INPUTS) throw invalidField("inputs", `at most ${TEI_MAX_INPUTS} inputs per request, got ${v.length}`);
  return { seqs: v.map((s, i) => sequence(s, `inputs[${i}]`)), batch: true };
}

/** Reads a `/tokenize` body. */
export function readTokenize(body: Record<string, unknown>): { texts: string[]; special: boolean; prompt: string | undefined } {
  if (body.inputs === undefined) throw invalidField("inputs", "missing field");
  const texts = textList(body.inputs, "inputs", TEI_MAX_INPUTS);
  return { texts, special: optBool(body, "add_special_tokens") ?? true, prompt: optText(body, "prompt_name") };
}

/** Reads a `/decode` body: `ids` as a list of id lists. */
export function readDecode(body: Record<string, unknown>): { lists: number[][]; skip: boolean } {
  const v = body.ids;
  if (v === undefined) throw invalidField("ids", "missing field");
  if (!Array.isArray(v)) throw invalidField("ids", `expected a list of token ids or a list of such lists, got ${kind(v)}`);
  if (v.length === 0) throw emptyField("ids", "`ids` cannot be empty");
  const lists = Array.isArray(v[0]) ? v.map((x, i) => idList(x, `ids[${i}]`)) : [idList(v, "ids")];
  if (lists.length > TEI_MAX_INPUTS) throw invalidField("ids", `at most ${TEI_MAX_INPUTS} lists per request, got ${lists.length}`);
  return { lists, skip: optBool(body, "skip_special_tokens") ?? true };
}

function object(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalidField(field, `expected an object, got ${kind(v)}`);
  return v as Record<string, unknown>;
}

/** Reads a `/similarity` body. */
export function readSimilarity(body: Record<string, unknown>): { source: string; sentences: string[]; options: EmbedOptions } {
  if (body.inputs === undefined) throw invalidField("inputs", "missing field");
  const inputs = object(body.inputs, "inputs");
  const source = nonEmptyText(inputs.source_sentence, "inputs.source_sentence");
  const sentences = textList(inputs.sentences, "inputs.sentences", TEI_MAX_INPUTS - 1);
  const p = body.parameters === undefined || body.parameters === null ? {} : object(body.parameters, "parameters");
  return { source, sentences, options: { truncate: optBool(p, "truncate") ?? true, direction: direction(p), promptName: optText(p, "prompt_name") } };
}

/** The most instances one request may carry. */
const MAX_INSTANCES = 1024;

/** The `instances` of a `/vertex` body, each a request body. */
export function vertexInstances(body: Record<string, unknown>): Record<string, unknown>[] {
  const instances = body.instances;
  if (!Array.isArray(instances)) throw invalidField("instances", `expected an array of request bodies, got ${kind(instances)}`);
  if (instances.length === 0) throw emptyField("instances", "`instances` cannot be empty");
  if (instances.length > MAX_INSTANCES) throw invalidField("instances", `at most ${MAX_INSTANCES} instances per request, got ${instances.length}`);
  instances.forEach((x, i) => {
    if (typeof x !== "object" || x === null || Array.isArray(x)) throw invalidField(`instances[${i}]`, `expected an object, got ${kind(x)}`);
  });
  return instances as Record<string, unknown>[];
}
