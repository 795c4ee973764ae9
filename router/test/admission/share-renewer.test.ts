import { expect, test } from "vitest";
import { KeyRateLimiter } from "../../src/admission/key-rate-limiter.ts";
import type { DemandReport, RateShareSource, ShareGrant } from "../../src/admission/rate-share-source.ts";
import { ShareRenewer } from "../../src/admission/share-renewer.ts";
import { FakeClock } from "./fake-clock.ts";
import { keyView } from "./keys.ts";

const settle = () => new Promise((r) => setImmediate(r));

/** A share source the test answers for, or makes unreachable. */
function source(grant: (r: DemandReport) => ShareGrant) {
  const reports: DemandReport[] = [];
  const s = {
    reachable: true,
    reports,
    renew: async (r: DemandReport) => {
      reports.push(r);
      if (!s.reachable) throw new Error("connect ECONNREFUSED");
      return grant(r);
    },
  } satisfies RateShareSource & Record<string, unknown>;
  return s;
}

test("reports each interval's demand and applies the shares it gets back", async () => {
  const clock = new FakeClock();
  const limiter = new KeyRateLimiter(clock, 3);
  const k = keyView("k");
  const src = source(() => ({ routers: 3, shares: new Map([[k.hash, 0.6]]) }));
  const renewer = new ShareRenewer({ source: src, limiter, clock, router: "r1", intervalMs: 1000 });
  renewer.start();
  for (let i = 0; i < 7; i++) limiter.admit(k, clock.now());
  expect(limiter.shareOf(k.hash)).toBeCloseTo(1 / 3);
  clock.advance(1000);
  await settle();
  expect(src.reports[0]).toEqual({ router: "r1", windowMs: 1000, keys: new Map([[k.hash, { requests: 7, tokens: 0 }]]) });
  expect(limiter.shareOf(k.hash)).toBe(0.6);
  clock.advance(1000);
  await settle();
  expect(src.reports).toHaveLength(2);
  renewer.stop();
  clock.advance(5000);
  await settle();
  expect(src.reports).toHaveLength(2);
});

test("while the source is away the last shares stay, and the outage is told once each way", async () => {
  const clock = new FakeClock();
  const limiter = new KeyRateLimiter(clock, 3);
  const k = keyView("k");
  const src = source(() => ({ routers: 2, shares: new Map([[k.hash, 0.9]]) }));
  const changes: boolean[] = [];
  const renewer = new ShareRenewer({ source: src, limiter, clock, router: "r1", onSourceChange: (up) => changes.push(up) });
  await renewer.renewNow();
  expect(limiter.shareOf(k.hash)).toBe(0.9);
  src.reachable = false;
  await renewer.renewNow();
  await renewer.renewNow();
  expect(limiter.shareOf(k.hash)).toBe(0.9);
  // A key first seen during the outage: an even split over the routers last counted.
  expect(limiter.shareOf(keyView("new").hash)).toBe(0.5);
  src.reachable = true;
  await renewer.renewNow();
  expect(changes).toEqual([false, true]);
});
