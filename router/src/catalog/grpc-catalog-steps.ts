/**
 * The model catalog on the gRPC front: a call's `x-tei-model` may name an alias (resolved to one
 * of its targets, by the same weighted pick as the HTTP gateway's) or a switched-off model (or
 * alias, or an instance of a switched-off model), refused at once with UNAVAILABLE
 * `model_disabled: ...`. Two admission steps, so that the fleet's steps between them (API key,
 * rate limit, queue) see the name the client called, as on the HTTP gateway (a key limited to
 * `embed` may call the alias `embed`): `check` runs before them and may refuse; `route` runs
 * after the queue, refuses nothing, and points the call at the target the alias picked. Names
 * the catalog does not know cost one map lookup or two. Remote backends are served over HTTP
 * only: on gRPC they are UNIMPLEMENTED. Multiplexer calls (their target is in their first
 * message, read after admission) are not resolved.
 */
import type { AdmissionCall, AdmissionStep } from "../admission/admission.ts";
import { GatewayError } from "../gateway/gateway-error.ts";
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import type { Target } from "../tei/target.ts";
import type { CatalogModelResolver } from "./catalog-resolver.ts";
import type { CatalogView } from "./catalog-view.ts";

/** The two steps (see the file's comment). */
export interface CatalogSteps {
  readonly check: AdmissionStep;
  readonly route: AdmissionStep;
}

function refusal(e: GatewayError): RouterError {
  if (e.code === "model_disabled") return new RouterError(GrpcStatus.UNAVAILABLE, `model_disabled: ${e.message}`);
  if (e.status === 404) return new RouterError(GrpcStatus.NOT_FOUND, e.message);
  return new RouterError(GrpcStatus.INVALID_ARGUMENT, e.message);
}

/** The catalog's steps for the gRPC front. */
export function createCatalogSteps(catalog: CatalogView, resolver: CatalogModelResolver): CatalogSteps {
  /** Targets picked by `check`, applied by `route`. */
  const picked = new WeakMap<AdmissionCall, Target>();
  const check: AdmissionStep = (call) => {
    const t = call.target;
    if (t === null) return undefined;
    if (t.kind === "model") {
      const name = t.model;
      if (catalog.alias(name) === undefined && catalog.backend(name) === undefined && !catalog.modelDisabled(name)) return undefined;
      const r = resolver.resolve(name, "any");
      if (r instanceof GatewayError) return refusal(r);
      if (r.remote !== undefined) {
        return new RouterError(GrpcStatus.UNIMPLEMENTED, `model "${name}" is the remote backend "${r.remote.name}": served over the HTTP gateway only`);
      }
      if (r.target.kind !== "model" || r.target.model !== name) picked.set(call, r.target);
      return undefined;
    }
    if (t.kind === "instance" && catalog.sizes.models > 0) {
      const r = resolver.resolve(t.name, "instance");
      if (r instanceof GatewayError && r.code === "model_disabled") return refusal(r);
    }
    return undefined;
  };
  const route: AdmissionStep = (call) => {
    const t = picked.get(call);
    if (t !== undefined) {
      call.target = t;
      picked.delete(call);
    }
    return undefined;
  };
  return { check, route };
}
