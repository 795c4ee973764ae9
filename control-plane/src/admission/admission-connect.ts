/**
 * AdmissionService over Connect, gRPC and gRPC-web, for routers (the join token, checked by the
 * server's auth gate like RouteService's): RenewShares checks the report (demand-report.ts),
 * records it and answers the router's shares (share-store.ts). Errors are mapped by the server's
 * interceptor (INVALID_ARGUMENT with `x-error-field` for a bad report).
 */
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { AdmissionService, KeyShareSchema, RenewSharesResponseSchema, type ReportUsageRequest, type ReportUsageResponse } from "@tei-fleet/proto/fleet/v1";
import { ApiError } from "../errors/api-error.ts";
import { parseDemandReport } from "./demand-report.ts";
import type { ShareStore } from "./share-store.ts";

/**
 * Registers AdmissionService on a Connect router; ReportUsage goes to `reportUsage`
 * (usage/usage-connect.ts), or is refused when none is given.
 */
export function admissionConnectRoutes(
  store: ShareStore,
  reportUsage?: (req: ReportUsageRequest) => Promise<ReportUsageResponse>,
): (router: ConnectRouter) => void {
  return (router) =>
    router.service(AdmissionService, {
      async renewShares(req) {
        const grant = await store.renew(parseDemandReport(req));
        return create(RenewSharesResponseSchema, {
          routers: grant.routers,
          shares: [...grant.shares].map(([limitId, share]) => create(KeyShareSchema, { limitId, share })),
        });
      },
      async reportUsage(req) {
        if (reportUsage === undefined) throw new ApiError("METHOD_NOT_ALLOWED", "this control plane does not keep usage");
        return reportUsage(req);
      },
    });
}
