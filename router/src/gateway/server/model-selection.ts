/**
 * Which name a request asks for, in order: the `x-tei-instance` header (an instance, as on the
 * gRPC side), a `/m/<name>/` or `/i/<name>/` path prefix, the `x-tei-model` header, the body's
 * `model` field; and when none is given, the only model the fleet serves (so a TEI client,
 * which never names one, works unchanged against a one-model fleet). The name is then resolved
 * by the {@link ModelResolver}.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { RouteTable } from "../../routing/route-table.ts";
import { NO_TABLE_YET } from "../../routing/route-table.ts";
import { GatewayError, invalidField } from "../gateway-error.ts";
import { kind } from "../json-fields.ts";
import type { ModelResolver, ResolvedModel } from "../model-resolver.ts";
import type { RoutedPath } from "../routes/route-table.ts";

/** True when the request names a model outside its body (a header or a path prefix). */
export function namesModel(headers: IncomingHttpHeaders, routed: RoutedPath): boolean {
  return routed.by !== null || headers["x-tei-instance"] !== undefined || headers["x-tei-model"] !== undefined;
}

/** The model of a request, or the error that answers it. */
export function selectModel(
  resolver: ModelResolver,
  table: RouteTable,
  headers: IncomingHttpHeaders,
  routed: RoutedPath,
  body: Record<string, unknown> | null,
): ResolvedModel | GatewayError {
  const instance = headers["x-tei-instance"];
  if (typeof instance === "string") return resolver.resolve(instance, "instance");
  if (routed.by !== null) return resolver.resolve(routed.name, routed.by === "instance" ? "instance" : "any");
  const model = headers["x-tei-model"];
  if (typeof model === "string") return resolver.resolve(model, "any");
  const field = body?.model;
  if (field !== undefined && field !== null) {
    if (typeof field !== "string") return invalidField("model", `expected a string, got ${kind(field)}`);
    return resolver.resolve(field, "any");
  }
  const sole = resolver.soleModel();
  if (sole !== null) return sole;
  if (!table.loaded) return new GatewayError(503, NO_TABLE_YET, "Unhealthy", null, "unavailable", 1000);
  return new GatewayError(
    400,
    "model: required: name the model with the `model` field, the x-tei-model header or a /m/<model>/ path prefix " +
      `(this fleet serves ${resolver.list().length} models; GET /v1/models lists them)`,
    "Validation",
    "model",
  );
}
