/**
 * Conversions between the spec's REST shape (instance-spec.ts: snake_case, numbers, null for
 * "default") and proto's InstanceSpec (tei_fleet.v1, camelCase, bigint for uint64, absent for
 * "default"). The proto's field names are the REST names, so the conversions walk the message's
 * descriptor rather than listing fields: a new spec field converts without an edit here.
 */
import { clone, type DescField, ScalarType } from "@bufbuild/protobuf";
import { type InstanceSpec, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import type { UpdateInstanceInput } from "./instance-spec.ts";

/** Fields where 0 means "allocate one on the node", as in tei-manager: stored as absent. */
const ALLOCATED_WHEN_ZERO: ReadonlySet<string> = new Set(["port", "prometheus_port"]);

/** Defaults REST shows for absent fields (GET's `spec`). */
const SHOWN_DEFAULTS: Readonly<Record<string, unknown>> = { desired_state: "running" };

/** The proto field named `name` in REST's naming, or undefined. */
function fieldNamed(name: string): DescField | undefined {
  return InstanceSpecSchema.fields.find((f) => f.name === name);
}

// The message's fields are read and written by name; the descriptor guarantees the names exist.
type Fields = Record<string, unknown>;

/** A proto value as REST JSON shows it: uint64 as a number (specs' sizes stay far below 2^53). */
function toRestValue(value: unknown): unknown {
  return typeof value === "bigint" ? Number(value) : value;
}

/**
 * Copies validated REST-shaped fields onto a copy of a proto spec: fields not in `input` keep
 * their value, null (and 0 for a port) resets a field to its default. `name` is never changed
 * here (an instance cannot be renamed).
 */
export function applySpecFields(target: InstanceSpec, input: UpdateInstanceInput): InstanceSpec {
  const spec = clone(InstanceSpecSchema, target);
  const out = spec as unknown as Fields;
  for (const [key, value] of Object.entries(input)) {
    const field = fieldNamed(key);
    if (field === undefined || key === "name" || value === undefined) continue;
    const reset = value === null || (ALLOCATED_WHEN_ZERO.has(key) && value === 0);
    if (field.fieldKind === "list") out[field.localName] = reset ? [] : [...(value as unknown[])];
    else if (field.fieldKind === "map") out[field.localName] = reset ? {} : { ...(value as Fields) };
    else if (reset) out[field.localName] = undefined;
    else out[field.localName] = field.fieldKind === "scalar" && field.scalar === ScalarType.UINT64 ? BigInt(value as number) : value;
  }
  return spec;
}

/**
 * The spec in REST shape, as GET returns it: every set field, `extra_args` always, the node
 * selector when it has labels, and the defaults of {@link SHOWN_DEFAULTS}.
 */
export function specToJson(spec: InstanceSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = spec as unknown as Fields;
  for (const field of InstanceSpecSchema.fields) {
    const value = fields[field.localName];
    if (field.fieldKind === "list") out[field.name] = [...(value as unknown[])];
    else if (field.fieldKind === "map") {
      if (Object.keys(value as Fields).length > 0) out[field.name] = { ...(value as Fields) };
    } else if (value !== undefined) out[field.name] = toRestValue(value);
    else if (field.name in SHOWN_DEFAULTS) out[field.name] = SHOWN_DEFAULTS[field.name];
  }
  return out;
}

/**
 * A proto spec as the schema's input (REST names and values), for validation with the same
 * rules as a REST body. Proto3 cannot tell an unset string, list or map from an empty one, so
 * those are left out: on a create, an empty `name` or `model_id` is then missing (as it is from
 * a REST body without it), on an update it keeps its value.
 */
export function specInputFromProto(spec: InstanceSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = spec as unknown as Fields;
  for (const field of InstanceSpecSchema.fields) {
    const value = fields[field.localName];
    if (value === undefined) continue;
    // An optional field set to "" was set (and is validated); a plain string's "" is proto3's unset.
    if (value === "" && field.fieldKind === "scalar" && !field.proto.proto3Optional) continue;
    if (field.fieldKind === "list") {
      if ((value as unknown[]).length > 0) out[field.name] = [...(value as unknown[])];
    } else if (field.fieldKind === "map") {
      if (Object.keys(value as Fields).length > 0) out[field.name] = { ...(value as Fields) };
    } else out[field.name] = toRestValue(value);
  }
  return out;
}
