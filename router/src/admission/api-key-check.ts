/**
 * Admission step: the call presents an API key (`authorization: Bearer <key>` in gRPC metadata;
 * the HTTP gateway passes the same header), the router knows it, it has not expired, and it may
 * call the call's model. The key is hashed (SHA-256, as the control plane stores it) and looked
 * up in the key table; a missing, unknown (revoked) or expired key is UNAUTHENTICATED, a model the
 * key may not call PERMISSION_DENIED. The key found is noted on the call for the rate limit and
 * the fair queue. Neither the key nor its hash is ever put in a message or a log line: refusals
 * name the key by its name, or not at all.
 *
 * In the chain only when the fleet requires keys; a fleet that does not serves anyone, as TEI
 * does, and this step costs nothing. Runs after metadata-target.ts (it needs the target).
 */
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import { headerValue } from "../h2/index.ts";
import type { AdmissionStep } from "./admission.ts";
import type { AdmissionClock } from "./admission-clock.ts";
import { type ApiKeyView, hashApiKey } from "./api-key-view.ts";
import type { CallModels } from "./call-model.ts";
import type { KeyTable } from "./key-table.ts";
import type { UsageMeter } from "./usage-meter.ts";

/** What the step checks against. */
export interface ApiKeyCheckOptions {
  readonly keys: KeyTable;
  /** Wall clock of key expiry. */
  readonly clock: Pick<AdmissionClock, "wallNow">;
  /** The model of a call's target. */
  readonly models: Pick<CallModels, "of">;
  /** Counts refusals of known keys (expired: unauthenticated; a model not allowed: permission_denied). */
  readonly meter?: UsageMeter;
}

const MISSING = new RouterError(GrpcStatus.UNAUTHENTICATED, "missing API key: send the metadata authorization: Bearer <key>");
const NOT_BEARER = new RouterError(GrpcStatus.UNAUTHENTICATED, "authorization must be Bearer <key>");
// One message for unknown and revoked keys: which of the two it is would tell a guesser something.
const UNKNOWN = new RouterError(GrpcStatus.UNAUTHENTICATED, "unknown or revoked API key");

/** The key of an `authorization` value (`Bearer <key>`, the scheme in any case); undefined when it is not one. */
export function bearerKey(value: string): string | undefined {
  if (value.length < 8 || value.charCodeAt(6) !== 32 /* ' ' */ || value.slice(0, 6).toLowerCase() !== "bearer") return undefined;
  const key = value.slice(7).trim();
  return key === "" ? undefined : key;
}

/** The step checking calls' API keys. */
export function createApiKeyCheck(o: ApiKeyCheckOptions): AdmissionStep {
  const { keys, clock, models, meter } = o;
  return (call) => {
    const value = headerValue(call.headers, "authorization");
    if (value === undefined) return MISSING;
    const raw = bearerKey(value);
    if (raw === undefined) return NOT_BEARER;
    const key = keys.get(hashApiKey(raw));
    if (key === undefined) return UNKNOWN;
    if (key.expiresAtMs !== undefined && clock.wallNow() >= key.expiresAtMs) {
      meter?.refused(key, models.of(call.target) ?? "", "unauthenticated");
      return new RouterError(GrpcStatus.UNAUTHENTICATED, `API key "${key.name}" has expired`);
    }
    const denied = permission(key, call.method?.mux === true ? null : models.of(call.target), call.method?.mux === true);
    if (denied !== undefined) {
      meter?.refused(key, models.of(call.target) ?? "", "permission_denied");
      return denied;
    }
    call.key = key;
    return undefined;
  };
}

/** PERMISSION_DENIED when `key` may not call `model`; undefined when it may. */
function permission(key: ApiKeyView, model: string | undefined | null, mux: boolean): RouterError | undefined {
  const allowed = key.allowedModels;
  if (allowed === "all") return undefined;
  if (mux) {
    // A multiplexer call names its model in its first message, after admission: a key limited
    // to some models would be checked too late, so it is refused up front.
    return new RouterError(GrpcStatus.PERMISSION_DENIED, `API key "${key.name}" is limited to some models: call tei.v1 with x-tei-model, not the multiplexer`);
  }
  if (model === undefined || model === null) {
    return new RouterError(GrpcStatus.PERMISSION_DENIED, `API key "${key.name}" is limited to some models: name the model (x-tei-model) or an instance`);
  }
  return allowed.includes(model) ? undefined : new RouterError(GrpcStatus.PERMISSION_DENIED, `API key "${key.name}" may not call model "${model}"`);
}
