import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ERROR_CATALOGUE } from "../errors/error-catalogue.ts";
import { toApiError } from "../errors/to-api-error.ts";

/**
 * The one function that turns anything thrown while serving an RPC into a ConnectError, for
 * every Connect service of the control plane (InstanceService, NodeService, AgentService,
 * RouteService). It reads the same catalogue REST does (through `toApiError`): 400 →
 * INVALID_ARGUMENT, 404 → NOT_FOUND, 409 duplicate → ALREADY_EXISTS, 409 stale revision → ABORTED,
 * 401 → UNAUTHENTICATED, 403 → PERMISSION_DENIED, ... The catalogue code and the field at fault
 * travel as response metadata `x-error-code` / `x-error-field`, so Connect clients branch on the
 * same codes as REST clients.
 *
 * A ConnectError is passed on as it is: it was either built here already (a handler that maps
 * early, the auth gate) or comes from connect-es itself (a cancelled call). The original error is
 * kept as the ConnectError's `cause` for {@link errorMappingInterceptor} to log; it is never sent.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const apiError = toApiError(err);
  const metadata = new Headers({ "x-error-code": apiError.code });
  if (apiError.field !== undefined) metadata.set("x-error-field", apiError.field);
  return new ConnectError(apiError.message, apiError.connectCode, metadata, undefined, apiError.cause ?? err);
}

/** True for a ConnectError the client is not at fault for (the catalogue's 5xx), whose cause is worth a log line. */
function isServerFault(err: ConnectError): boolean {
  const code = err.metadata.get("x-error-code");
  if (code !== null && code in ERROR_CATALOGUE) return ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].status >= 500;
  return err.code === Code.Internal || err.code === Code.Unknown;
}

/**
 * Server interceptor applying {@link toConnectError} to unary calls and to streams mid-way; the
 * one place a failed RPC's cause is logged (server faults only: a client's mistake is its answer).
 */
export function errorMappingInterceptor(logger: Logger): Interceptor {
  const mapped = (err: unknown): ConnectError => {
    const ce = toConnectError(err);
    if (isServerFault(ce)) logger.error({ err: ce.cause ?? err }, "rpc failed");
    return ce;
  };
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const source = res.message;
      async function* mappedStream() {
        try {
          yield* source;
        } catch (err) {
          throw mapped(err);
        }
      }
      return { ...res, message: mappedStream() };
    } catch (err) {
      throw mapped(err);
    }
  };
}
