/**
 * The router's side of the shares against a real control plane: three routers' limiters renew
 * through `AdmissionService.RenewShares` (the router's control-plane share source and renewer)
 * and end up enforcing demand-proportional shares of one key; with the control plane gone they
 * keep enforcing the shares they last had.
 */
import { reporterShare } from "@tei-fleet/core/admission";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiKeyView } from "../../router/src/admission/api-key-view.ts";
import { createControlPlaneShareSource } from "../../router/src/admission/control-plane-share-source.ts";
import { KeyRateLimiter } from "../../router/src/admission/key-rate-limiter.ts";
import { ShareRenewer } from "../../router/src/admission/share-renewer.ts";
import { FakeClock } from "../../router/test/admission/fake-clock.ts";
import { type ApiFixture, JOIN, startApi } from "./api-fixtures.ts";

const KEY: ApiKeyView = { id: "team-key", hash: "0".repeat(64), name: "team", allowedModels: "all", limits: { requestsPerSecond: 80, burst: 50 } };

describe("routers renewing shares from the control plane", () => {
  let api: ApiFixture;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => {
    await api.close();
  });

  it("enforce demand-proportional shares, and keep them while the control plane is away", async () => {
    const source = createControlPlaneShareSource({ baseUrl: api.url, joinToken: JOIN, routerCount: 3, timeoutMs: 1000 });
    const changes: boolean[] = [];
    const clock = new FakeClock();
    const routers = ["r0", "r1", "r2"].map((name) => {
      const limiter = new KeyRateLimiter(clock, 3);
      const renewer = new ShareRenewer({ source, limiter, clock, router: name, onSourceChange: (up) => changes.push(up) });
      return { limiter, renewer };
    });
    // Before any grant: the even split of --router-count 3.
    expect(routers.map((r) => r.limiter.shareOf("team-key"))).toEqual([1 / 3, 1 / 3, 1 / 3]);
    const skew = [140, 50, 10];
    for (let round = 0; round < 3; round++) {
      // One second per round: every report's window is 1000 ms.
      clock.t += 1000;
      routers.forEach((r, i) => {
        for (let n = 0; n < (skew[i] as number); n++) r.limiter.admit(KEY, clock.now());
      });
      for (const r of routers) await r.renewer.renewNow();
    }
    const shares = routers.map((r) => r.limiter.shareOf("team-key"));
    const expected = [0, 1, 2].map((i) => reporterShare(skew, i, 3));
    for (const [i, s] of shares.entries()) expect(s).toBeCloseTo(expected[i] as number, 6);
    expect(shares.reduce((a, b) => a + b)).toBeCloseTo(1, 6);

    await api.close();
    clock.t += 1000;
    for (const r of routers) await r.renewer.renewNow();
    expect(changes).toEqual([false, false, false]);
    expect(routers.map((r) => r.limiter.shareOf("team-key"))).toEqual(shares);
  });
});
