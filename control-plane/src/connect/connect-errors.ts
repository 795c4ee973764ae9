import { type Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ApiError, toApiError } from "../errors/api-error.ts";

/**
 * Turns anything a handler throws into a ConnectError with the catalogue's code (the same table
 * REST uses: 400 → INVALID_ARGUMENT, 404 → NOT_FOUND, 409 duplicate → ALREADY_EXISTS, 409 stale
 * revision → ABORTED, 401 → UNAUTHENTICATED, 403 → PERMISSION_DENIED, ...). The catalogue code
 * and the field at fault travel as response metadata `x-error-code` / `x-error-field`, so Connect
 * clients can branch on the same codes as REST clients. Causes of internal errors are logged here
 * and never sent.
 */
export function toConnectError(err: unknown, logger?: Logger): ConnectError {
  if (err instanceof ConnectError) return err;
  const apiError = err instanceof ApiError ? err : toApiError(err);
  if (apiError.status >= 500) logger?.error({ err: apiError.cause ?? err }, "rpc failed");
  const metadata = new Headers({ "x-error-code": apiError.code });
  if (apiError.field !== undefined) metadata.set("x-error-field", apiError.field);
  return new ConnectError(apiError.message, apiError.connectCode, metadata);
}

/** Server interceptor applying {@link toConnectError} to unary calls and to streams mid-way. */
export function errorMappingInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const source = res.message;
      async function* mapped() {
        try {
          yield* source;
        } catch (err) {
          throw toConnectError(err, logger);
        }
      }
      return { ...res, message: mapped() };
    } catch (err) {
      throw toConnectError(err, logger);
    }
  };
}

/** Code of a ConnectError built by {@link toConnectError}; convenience for callers and tests. */
export function errorCodeOf(err: unknown): { code: Code; apiCode?: string; field?: string } {
  const ce = ConnectError.from(err);
  return { code: ce.code, apiCode: ce.metadata.get("x-error-code") ?? undefined, field: ce.metadata.get("x-error-field") ?? undefined };
}
