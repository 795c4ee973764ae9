import type { Code } from "@connectrpc/connect";
import { type ApiErrorCode, ERROR_CATALOGUE } from "./error-catalogue.ts";

export { type ApiErrorCode, ERROR_CATALOGUE } from "./error-catalogue.ts";

/**
 * An error meant for the client: a catalogue code, a message that names the problem, and the
 * request field at fault when there is one. Anything thrown that is not an ApiError is an
 * internal error: logged with its cause, answered as INTERNAL_ERROR without details.
 *
 * Domain errors that a client may see (NodeNotFoundError, NodeInUseError, ...) extend this class,
 * so the API's error mapping recognises them by `instanceof` and reads their code from them;
 * nothing is recognised by its `name`, which any Error can carry.
 */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly field: string | undefined;
  /** Extra response headers, e.g. `allow` for 405. */
  readonly headers: Record<string, string>;

  constructor(code: ApiErrorCode, message: string, options: { field?: string; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  /** The Connect code of this error's code. */
  get connectCode(): Code {
    return ERROR_CATALOGUE[this.code].connect;
  }
}
