/**
 * A request's JSON body: collected up to the gateway's limit (a declared or actual size past it
 * is answered 413 at once, and the rest is read and dropped without being kept, so the
 * connection stays usable), then checked as UTF-8 (invalid bytes are refused, not replaced) and
 * parsed; the body must be a JSON object.
 */
import { isUtf8 } from "node:buffer";
import { GatewayError } from "./gateway-error.ts";
import type { HttpRequest } from "./http-exchange.ts";

/** The 413 of a body past `limit` bytes. */
function tooLarge(limit: number): GatewayError {
  return new GatewayError(413, `request body larger than ${limit} bytes`, "Validation", null, "request_too_large");
}

/**
 * Reads `req`'s body; `done` gets the parsed object or the error that answers the request (once);
 * `gone` runs when the client broke off the request.
 */
export function readJsonBody(req: HttpRequest, limit: number, done: (body: Record<string, unknown> | GatewayError) => void, gone: () => void): void {
  const declared = Number(req.headers["content-length"] ?? -1);
  if (declared > limit) {
    done(tooLarge(limit));
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on("data", (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > limit) {
      over = true;
      chunks.length = 0;
      done(tooLarge(limit));
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (!over) done(parseBody(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)));
  });
  req.on("error", gone);
}

/** The body as a JSON object, or the 400/422 that answers it. */
export function parseBody(buf: Buffer): Record<string, unknown> | GatewayError {
  if (!isUtf8(buf)) return new GatewayError(400, "request body is not valid UTF-8", "Validation", null, "invalid_json");
  let v: unknown;
  try {
    v = JSON.parse(buf.toString("utf8"));
  } catch (err) {
    return new GatewayError(400, `request body is not valid JSON: ${(err as Error).message}`, "Validation", null, "invalid_json");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    return new GatewayError(422, "request body: expected a JSON object", "Validation", null, "invalid_body");
  return v as Record<string, unknown>;
}
