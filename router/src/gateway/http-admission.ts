/**
 * The router's admission chain for HTTP requests: the fleet's steps (API key, rate limit, fair
 * queue; admission/fleet-admission.ts) see each gateway request as one call, shared with the gRPC
 * front, so a key's limits and the in-flight bound hold across both surfaces. A refusal becomes
 * the route family's error (401, 403, 429 with Retry-After, 504...); the call is ended for the
 * steps with the gRPC status its HTTP answer means, and TEI's token count, when a step asked.
 */
import { type AdmissionCall, type AdmissionStep, admissionCall, runAdmission } from "../admission/admission.ts";
import { GrpcStatus, RouterError } from "../grpc/grpc-status.ts";
import { METHODS, type MethodSpec } from "../tei/method-table.ts";
import { fromGrpcStatus, type GatewayError } from "./gateway-error.ts";
import type { HttpRequest } from "./http-exchange.ts";

/** The TEI method each route's calls make (what the steps see as `call.method`). */
const ROUTE_METHODS = new Map<string, MethodSpec | undefined>([
  ["/v1/embeddings", METHODS.get("/tei.v1.Embed/Embed")],
  ["/embed", METHODS.get("/tei.v1.Embed/Embed")],
  ["/similarity", METHODS.get("/tei.v1.Embed/Embed")],
  ["/embed_sparse", METHODS.get("/tei.v1.Embed/EmbedSparse")],
  ["/embed_all", METHODS.get("/tei.v1.Embed/EmbedAll")],
  ["/predict", METHODS.get("/tei.v1.Predict/Predict")],
  ["/rerank", METHODS.get("/tei.v1.Rerank/Rerank")],
  ["/v1/rerank", METHODS.get("/tei.v1.Rerank/Rerank")],
  ["/v2/rerank", METHODS.get("/tei.v1.Rerank/Rerank")],
  ["/tokenize", METHODS.get("/tei.v1.Tokenize/Tokenize")],
  ["/decode", METHODS.get("/tei.v1.Tokenize/Decode")],
  ["/info", METHODS.get("/tei.v1.Info/Info")],
]);

/** The request's headers as the steps read them: flat [name, value, ...], names lowercase. */
function flatHeaders(req: HttpRequest): string[] {
  const raw = req.rawHeaders;
  const out = new Array<string>(raw.length);
  for (let i = 0; i < raw.length; i += 2) {
    out[i] = (raw[i] as string).toLowerCase();
    out[i + 1] = raw[i + 1] as string;
  }
  return out;
}

/** The admission call of a request for `route` to `target`. */
export function httpAdmissionCall(route: string, req: HttpRequest, target: AdmissionCall["target"]): AdmissionCall {
  const call = admissionCall(route, flatHeaders(req), ROUTE_METHODS.get(route));
  call.target = target;
  return call;
}

/**
 * Runs `steps` on `call`: `go` when admitted, `refuse` with the family-neutral error otherwise
 * (synchronously when no step waits).
 */
export function admitHttp(steps: readonly AdmissionStep[], call: AdmissionCall, go: () => void, refuse: (err: GatewayError | unknown) => void): void {
  let d: ReturnType<typeof runAdmission>;
  try {
    d = runAdmission(steps, call);
  } catch (err) {
    refuse(err);
    return;
  }
  if (d === undefined) go();
  else if (d instanceof RouterError) refuse(fromGrpcStatus(d.code, d.message, d.retryAfterMs));
  else
    d.then(
      (r) => (r === undefined ? go() : refuse(fromGrpcStatus(r.code, r.message, r.retryAfterMs))),
      (err: unknown) => refuse(err),
    );
}

/** The gRPC status an HTTP answer means, for the steps' end-of-call hooks. */
export function grpcCodeOf(status: number): number {
  if (status === 200) return GrpcStatus.OK;
  if (status === 499) return GrpcStatus.CANCELLED;
  if (status === 429) return GrpcStatus.RESOURCE_EXHAUSTED;
  if (status === 404) return GrpcStatus.NOT_FOUND;
  if (status === 401) return GrpcStatus.UNAUTHENTICATED;
  if (status === 403) return GrpcStatus.PERMISSION_DENIED;
  if (status === 504) return GrpcStatus.DEADLINE_EXCEEDED;
  if (status === 503) return GrpcStatus.UNAVAILABLE;
  if (status === 424) return GrpcStatus.FAILED_PRECONDITION;
  return status < 500 ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.INTERNAL;
}
