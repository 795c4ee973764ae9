/**
 * The metadata of one TEI call of a traced request: the request's own (trace-context.ts:
 * content-type, then `traceparent` at index 3 when the client sent one, then `tracestate`) with
 * the call's span as the `traceparent`, so TEI's spans hang under the router's CLIENT span
 * rather than under the client's. `tracestate` goes on as the client sent it (the router keeps
 * no entry of its own there).
 */

/** `base` with `traceparent` in place of (or, without one, added as) its `traceparent`. */
export function withTraceparent(base: readonly string[], traceparent: string): string[] {
  if (base[2] === "traceparent") {
    const out = base.slice();
    out[3] = traceparent;
    return out;
  }
  return [...base.slice(0, 2), "traceparent", traceparent, ...base.slice(2)];
}
