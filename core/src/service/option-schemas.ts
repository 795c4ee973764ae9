import { z } from "zod";
import { HOST_PORT_RULE, type HostPort, parseHostPort } from "../host-port.ts";

/**
 * Parsers for the kinds of setting every service has, so that a port, a duration or a log level
 * is read, bounded and explained the same way everywhere. Messages are predicates: the config
 * loader puts the setting's name in front ("--capacity / TEI_FLEET_CAPACITY: must be at least 1").
 */

/** pino's levels, from the fewest lines to the most; `silent` turns logging off (tests, embedding). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A log level. */
export function logLevel() {
  return z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` });
}

/**
 * A whole number within `[min, max]` (durations in ms, counts, sizes), written in decimal digits:
 * `1e3`, `0x10` or `5.0` are refused rather than read as something the operator did not write.
 */
export function integer(min: number, max: number = Number.MAX_SAFE_INTEGER) {
  return z
    .string({ error: "must be a whole number" })
    .trim()
    .regex(/^[+-]?\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

/** `true` or `false`, as text (what an env file can hold). */
export function booleanText() {
  return z.enum(["true", "false"], { error: "must be true or false" }).transform((v) => v === "true");
}

/** A listen address ({@link parseHostPort}); `example` goes into the message. */
export function hostPort(example: string) {
  return fromParser<HostPort>((text) => parseHostPort(text) ?? `must be ${HOST_PORT_RULE}, e.g. ${example} (got '${text}')`);
}

/** An http:// or https:// URL, without trailing slashes (they would double in joined paths). */
export function httpUrl(example: string) {
  return z.url({ protocol: /^https?$/, error: `must be an http(s) URL, e.g. ${example}` }).transform((url) => url.replace(/\/+$/, ""));
}

/**
 * A setting read by an existing parser: `parse` returns the value, or a string saying what is
 * wrong (a predicate, like every message here), or throws an Error whose message says it.
 */
export function fromParser<T extends object | number | boolean>(parse: (text: string) => T | string) {
  return z.string().transform((text, ctx): T => {
    let result: T | string;
    try {
      result = parse(text);
    } catch (error) {
      result = (error as Error).message;
    }
    if (typeof result !== "string") return result;
    ctx.addIssue({ code: "custom", message: result });
    return z.NEVER;
  });
}
