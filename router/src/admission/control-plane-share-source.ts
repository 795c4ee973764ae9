/**
 * The control plane as the router's share source: each renewal is one
 * `AdmissionService.RenewShares` call (admission.proto) with the join token, like the route
 * watch's. The control plane keeps every router's last report (in Redis, with a TTL) and answers
 * this router's share of each key it reported, by the rule of @tei-fleet/core/admission. A call
 * that fails rejects, and the renewer keeps the shares it last applied (share-renewer.ts): while
 * the control plane is away, the router enforces what it was last granted.
 */
import { create } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { AdmissionService, KeyDemandSchema } from "@tei-fleet/proto/fleet/v1";
import { controlPlaneTransport } from "../control-plane-client/control-plane-transport.ts";
import type { DemandReport, RateShareSource, ShareGrant } from "./rate-share-source.ts";

/** Options of {@link createControlPlaneShareSource}. */
export interface ControlPlaneShareSourceOptions {
  /** Base URL of the control plane, e.g. http://10.0.0.1:9000. */
  readonly baseUrl: string;
  /** Join token sent as `authorization: Bearer ...`; never logged. */
  readonly joinToken: string | undefined;
  /**
   * Routers this one assumes share the keys (`--router-count`): the control plane reserves an
   * even share for as many while fewer have reported. Default 1: no reservation.
   */
  readonly routerCount?: number;
  /** Deadline of one renewal, ms: a slow control plane must not hold the next one back. Default 2000. */
  readonly timeoutMs?: number;
}

/** The longest window the control plane takes (admission.proto: at most an hour). */
const MAX_WINDOW_MS = 3_600_000;

/** Router ids as the control plane takes them (letters, digits, `._:/@-`). */
export function shareRouterId(raw: string): string {
  const id = raw.replace(/[^A-Za-z0-9._:/@-]/g, "-").slice(0, 253);
  return /^[A-Za-z0-9]/.test(id) ? id : `r${id.slice(0, 252)}`;
}

/** A share source that asks the control plane. */
export function createControlPlaneShareSource(o: ControlPlaneShareSourceOptions): RateShareSource {
  const client: Client<typeof AdmissionService> = createClient(AdmissionService, controlPlaneTransport(o.baseUrl, o.joinToken));
  const timeoutMs = o.timeoutMs ?? 2000;
  const routerCount = o.routerCount ?? 1;
  return {
    async renew(report: DemandReport): Promise<ShareGrant> {
      const keys = [];
      for (const [limitId, d] of report.keys) keys.push(create(KeyDemandSchema, { limitId, requests: BigInt(d.requests), tokens: BigInt(d.tokens) }));
      const res = await client.renewShares(
        {
          routerId: shareRouterId(report.router),
          windowMs: Math.min(MAX_WINDOW_MS, Math.max(1, Math.round(report.windowMs))),
          keys,
          routerCount,
        },
        { timeoutMs },
      );
      const shares = new Map<string, number>();
      for (const s of res.shares) shares.set(s.limitId, s.share);
      return { routers: res.routers, shares };
    },
  };
}
