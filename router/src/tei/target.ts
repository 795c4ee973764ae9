/**
 * Which TEI instance a call is for. Plain `tei.v1.*` calls say it in metadata (`x-tei-instance`,
 * `x-tei-model`, `x-tei-index`); multiplexer calls say it in the `Target` field of their first
 * message. Both become the same `Target` value, checked here once.
 */
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import { headerValue } from "../h2/index.ts";
import { scanTarget } from "./protobuf-scan.ts";

/** A routing choice. */
export type Target =
  | { readonly kind: "instance"; readonly name: string }
  | { readonly kind: "model"; readonly model: string }
  /** Index into the sorted list of ready replicas, of one model when `model` is set. */
  | { readonly kind: "index"; readonly index: number; readonly model: string | undefined };

/** Metadata keys a plain TEI call routes by. */
export const TARGET_HEADERS = {
  instance: "x-tei-instance",
  model: "x-tei-model",
  index: "x-tei-index",
} as const;

const MISSING_HEADERS =
  "missing target: set the metadata x-tei-instance (an instance name), x-tei-model (a model id) " + "or x-tei-index (an index into the ready replicas)";

function parseIndex(raw: string): number {
  if (!/^\d{1,9}$/.test(raw)) {
    throw new RouterError(GrpcStatus.INVALID_ARGUMENT, `x-tei-index must be a non-negative integer, got "${raw}"`);
  }
  return Number(raw);
}

/**
 * Reads the target of a plain TEI call from its metadata. `x-tei-instance` wins over the others;
 * `x-tei-index` together with `x-tei-model` indexes into that model's replicas. Repeated
 * metadata: the first value decides.
 * @throws RouterError (INVALID_ARGUMENT) when no target is given or a value is empty or malformed
 */
export function targetFromHeaders(headers: readonly string[]): Target {
  const instance = headerValue(headers, TARGET_HEADERS.instance);
  if (instance !== undefined) {
    if (instance === "") throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "x-tei-instance is empty");
    return { kind: "instance", name: instance };
  }
  const model = headerValue(headers, TARGET_HEADERS.model);
  const index = headerValue(headers, TARGET_HEADERS.index);
  if (model === "") throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "x-tei-model is empty");
  if (index !== undefined) return { kind: "index", index: parseIndex(index), model };
  if (model !== undefined) return { kind: "model", model };
  throw new RouterError(GrpcStatus.INVALID_ARGUMENT, MISSING_HEADERS);
}

/**
 * Reads a multiplexer `Target` message (`bytes[start, end)`; start = -1 when the wrapper had no
 * target field), as tei-manager does: a missing target, no routing member, or an empty name or
 * model id is INVALID_ARGUMENT.
 */
export function targetFromMessage(bytes: Buffer, start: number, end: number): Target {
  if (start < 0) throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "missing target: set Target.instance_name, model_id or instance_index");
  const t = scanTarget(bytes, start, end);
  switch (t.which) {
    case 1:
      if (t.text === "") throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "Target.instance_name is empty");
      return { kind: "instance", name: t.text };
    case 2:
      if (t.text === "") throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "Target.model_id is empty");
      return { kind: "model", model: t.text };
    case 3:
      return { kind: "index", index: t.index, model: undefined };
    default:
      throw new RouterError(GrpcStatus.INVALID_ARGUMENT, "Target has no routing: set instance_name, model_id or instance_index");
  }
}

/** A short human description of a target, for status messages and logs. */
export function describeTarget(t: Target): string {
  switch (t.kind) {
    case "instance":
      return `instance "${t.name}"`;
    case "model":
      return `model "${t.model}"`;
    case "index":
      return t.model === undefined ? `index ${t.index}` : `index ${t.index} of model "${t.model}"`;
  }
}
