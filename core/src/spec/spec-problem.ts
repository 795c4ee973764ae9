/**
 * Why a spec is refused, in terms every surface can report: a catalogue code, one sentence and the
 * field at fault, named as the REST JSON names it (`extra_args.1`, `node_selector`). Core returns
 * problems instead of throwing a service's error type, so that the control plane (REST and
 * Connect), the agent and the coming `teictl` each turn the same verdict into their own error.
 */
import type { z } from "zod";

/**
 * The catalogue codes a spec can be refused with; a subset of the control plane's REST/Connect
 * error catalogue (control-plane/src/errors/api-error.ts), which maps each to an HTTP status and
 * a Connect code.
 */
export type SpecProblemCode =
  | "VALIDATION_ERROR"
  | "MISSING_FIELD"
  | "INVALID_PORT"
  | "INVALID_GPU_ID"
  | "INVALID_INSTANCE_NAME"
  | "MANAGED_FLAG"
  | "PORT_CONFLICT";

/** One reason a spec cannot be accepted. */
export interface SpecProblem {
  code: SpecProblemCode;
  /** One sentence naming the field, e.g. `field 'port' must be between 1024 and 65535 (...)`. */
  message: string;
  /** The field at fault in REST JSON's naming (a dotted path); undefined when it is the whole body. */
  field?: string;
}

/** A verdict on a spec: the accepted value, or the first problem found. */
export type SpecResult<T> = { ok: true; value: T } | { ok: false; problem: SpecProblem };

/**
 * The problem of the first issue zod found, worded as the API has always worded it. `what` names
 * the thing validated ("the instance spec", "the update") in messages about the body as a whole.
 */
export function specProblemFromZod(error: z.ZodError, what: string): SpecProblem {
  const issue = error.issues[0];
  if (issue === undefined) return { code: "VALIDATION_ERROR", message: `invalid ${what}` };
  if (issue.code === "unrecognized_keys") {
    const prefix = issue.path.length > 0 ? `${issue.path.join(".")}.` : "";
    const field = `${prefix}${issue.keys[0] ?? ""}`;
    return { code: "VALIDATION_ERROR", message: `unknown field '${field}' in ${what}`, field };
  }
  const field = issue.path.map(String).join(".");
  if (field === "") return { code: "VALIDATION_ERROR", message: `${what} must be a JSON object` };
  const top = String(issue.path[0]);
  let code: SpecProblemCode = "VALIDATION_ERROR";
  if (issue.code === "invalid_type" && issue.input === undefined) code = "MISSING_FIELD";
  else if (top === "port" || top === "prometheus_port") code = "INVALID_PORT";
  else if (top === "gpu_id") code = "INVALID_GPU_ID";
  const message =
    code === "MISSING_FIELD"
      ? `field '${field}' is required`
      : issue.code === "invalid_type"
        ? `field '${field}' must be ${issue.expected === "int" ? "an integer" : `a ${issue.expected}`}, got ${describe(issue.input)}`
        : `field '${field}' ${issue.message.startsWith("must") ? issue.message : `is invalid: ${issue.message}`}`;
  return { code, message, field };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number" && !Number.isInteger(value)) return `the fraction ${value}`;
  return typeof value === "string" ? `the string ${JSON.stringify(value.slice(0, 40))}` : `a ${typeof value}`;
}
