/**
 * The share rule alone, then three simulated routers enforcing keys fleet-wide on a deterministic
 * clock: seeded Poisson arrivals, skewed across routers, shares renewed every second through the
 * in-memory coordinator.
 */
import { assignShares, reporterShare, smoothDemand } from "@tei-fleet/core/admission";
import { describe, expect, test } from "vitest";
import type { ApiKeyView } from "../../src/admission/api-key-view.ts";
import { KeyRateLimiter } from "../../src/admission/key-rate-limiter.ts";
import { ShareCoordinator } from "../../src/admission/share-coordinator.ts";
import { FakeClock } from "./fake-clock.ts";
import { keyView } from "./keys.ts";

describe("assignShares", () => {
  test("splits in proportion to demand above a floor, summing to 1", () => {
    const s = assignShares([70, 25, 5], 0.06);
    expect(s[0]).toBeCloseTo(0.02 + 0.94 * 0.7);
    expect(s[2]).toBeCloseTo(0.02 + 0.94 * 0.05);
    expect(s.reduce((a, b) => a + b)).toBeCloseTo(1);
  });

  test("a router with no demand keeps the floor; nobody asking is an even split", () => {
    expect(assignShares([10, 0], 0.1)[1]).toBeCloseTo(0.05);
    expect(assignShares([0, 0, 0, 0])).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(assignShares([])).toEqual([]);
    expect(assignShares([5])).toEqual([1]);
  });

  test("routers yet to report keep an even split; the reporters divide the rest", () => {
    // Two of three routers reported: the third keeps 1/3, the two divide 2/3 by demand.
    const a = reporterShare([30, 10], 0, 3, 0);
    const b = reporterShare([30, 10], 1, 3, 0);
    expect(a).toBeCloseTo((2 / 3) * 0.75);
    expect(b).toBeCloseTo((2 / 3) * 0.25);
    expect(1 - a - b).toBeCloseTo(1 / 3);
    // Every router reported: the plain rule.
    expect(reporterShare([30, 10], 0, 2, 0.1)).toBeCloseTo(assignShares([30, 10], 0.1)[0] as number);
    // A router count below the reporters counts the reporters.
    expect(reporterShare([5], 0, 0)).toBe(1);
  });

  test("demand is smoothed across windows", () => {
    expect(smoothDemand(undefined, 40)).toBe(40);
    expect(smoothDemand(40, 0)).toBe(20);
  });
});

/** mulberry32: a seeded PRNG, so the simulated traffic is the same every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One stream of calls: a key at a total rate, split over the routers by `skew`, which may change at `switchAtMs`. */
interface Traffic {
  key: ApiKeyView;
  perSecond: number;
  skew: readonly number[];
  /** From this time on, `skewAfter` (traffic moving between routers). */
  switchAtMs?: number;
  skewAfter?: readonly number[];
}

interface Outcome {
  admitted: Map<string, number>;
  refused: Map<string, number>;
}

/**
 * Runs `routers` limiters for `seconds` on one clock. With `shared`, shares are renewed every
 * second from a coordinator; without, each router keeps 1/N (the naive split).
 */
function simulate(traffic: readonly Traffic[], routers: number, seconds: number, shared: boolean, seed = 7): Outcome {
  const clock = new FakeClock();
  const t0 = clock.now();
  const limiters = Array.from({ length: routers }, () => new KeyRateLimiter(clock, routers));
  const coordinator = new ShareCoordinator({ clock });
  for (let i = 0; i < routers; i++) coordinator.join(`r${i}`);
  const random = prng(seed);
  // Every arrival (time, router, traffic), from exponential gaps per router and stream.
  const arrivals: { at: number; router: number; key: ApiKeyView }[] = [];
  for (const tr of traffic) {
    for (let r = 0; r < routers; r++) {
      for (let at = 0; ; ) {
        const skew = tr.switchAtMs !== undefined && at >= tr.switchAtMs ? (tr.skewAfter as number[]) : tr.skew;
        const rate = (tr.perSecond * (skew[r] as number)) / 1000;
        if (rate <= 0) {
          if (tr.switchAtMs === undefined || at >= tr.switchAtMs) break;
          at = tr.switchAtMs;
          continue;
        }
        at += -Math.log(1 - random()) / rate;
        if (at >= seconds * 1000) break;
        arrivals.push({ at, router: r, key: tr.key });
      }
    }
  }
  arrivals.sort((a, b) => a.at - b.at);
  const out: Outcome = { admitted: new Map(), refused: new Map() };
  let nextRenewal = 1000;
  for (const a of arrivals) {
    while (shared && a.at >= nextRenewal) {
      clock.advance(t0 + nextRenewal - clock.now());
      limiters.forEach((l, i) => {
        l.applyGrant(coordinator.report({ router: `r${i}`, windowMs: 1000, keys: l.takeDemand() }), clock.now());
      });
      nextRenewal += 1000;
    }
    clock.advance(t0 + a.at - clock.now());
    const refused = (limiters[a.router] as KeyRateLimiter).admit(a.key, clock.now()) !== undefined;
    const m = refused ? out.refused : out.admitted;
    m.set(a.key.name, (m.get(a.key.name) ?? 0) + 1);
  }
  return out;
}

describe("three routers enforcing a key fleet-wide (simulated, 20 s)", () => {
  const hot = keyView("hot", { name: "hot" }); // 80/s, burst 50, called at 4x
  const cool = keyView("cool", { name: "cool" }); // 80/s, called at half
  const seconds = 20;
  const rate = (o: Outcome, name: string) => (o.admitted.get(name) ?? 0) / seconds;

  test("a key at 4x its limit, skewed 70/25/5 across routers, gets its rate within 10%; a key at half is never refused", () => {
    const o = simulate(
      [
        { key: hot, perSecond: 320, skew: [0.7, 0.25, 0.05] },
        { key: cool, perSecond: 40, skew: [0.1, 0.3, 0.6] },
      ],
      3,
      seconds,
      true,
    );
    expect(Math.abs(rate(o, "hot") - 80) / 80).toBeLessThanOrEqual(0.1);
    expect(o.refused.get("cool") ?? 0).toBe(0);
  });

  test("it stays within 10% when the traffic moves to another router half-way", () => {
    const o = simulate(
      [
        { key: hot, perSecond: 320, skew: [0.7, 0.25, 0.05], switchAtMs: 10_000, skewAfter: [0.05, 0.15, 0.8] },
        { key: cool, perSecond: 40, skew: [0.6, 0.3, 0.1], switchAtMs: 10_000, skewAfter: [0.1, 0.1, 0.8] },
      ],
      3,
      seconds,
      true,
    );
    expect(Math.abs(rate(o, "hot") - 80) / 80).toBeLessThanOrEqual(0.1);
    // The moment traffic moves, the router it moves to has only its old share and burst until
    // the renewals catch up (a second or two): a few of the cool key's calls are refused then.
    expect(o.refused.get("cool") ?? 0).toBeLessThanOrEqual(0.02 * 40 * seconds);
  });

  test("it holds with one router seeing everything, and with traffic spread evenly", () => {
    for (const skew of [
      [1, 0, 0],
      [1 / 3, 1 / 3, 1 / 3],
    ]) {
      const o = simulate([{ key: hot, perSecond: 320, skew }], 3, seconds, true);
      expect(Math.abs(rate(o, "hot") - 80) / 80).toBeLessThanOrEqual(0.1);
    }
  });

  test("for contrast, a fixed 1/N split misses by more than 10% under the same skew", () => {
    const o = simulate([{ key: hot, perSecond: 320, skew: [0.7, 0.25, 0.05] }], 3, seconds, false);
    expect((80 - rate(o, "hot")) / 80).toBeGreaterThan(0.1);
  });
});

if (process.env.SHARE_SIM_PRINT) {
  const hot = keyView("hot", { name: "hot" });
  const cool = keyView("cool", { name: "cool" });
  const runs: [string, Traffic[], boolean][] = [
    [
      "skew 70/25/5, shared",
      [
        { key: hot, perSecond: 320, skew: [0.7, 0.25, 0.05] },
        { key: cool, perSecond: 40, skew: [0.1, 0.3, 0.6] },
      ],
      true,
    ],
    [
      "skew moves at 10 s, shared",
      [
        { key: hot, perSecond: 320, skew: [0.7, 0.25, 0.05], switchAtMs: 10_000, skewAfter: [0.05, 0.15, 0.8] },
        { key: cool, perSecond: 40, skew: [0.6, 0.3, 0.1], switchAtMs: 10_000, skewAfter: [0.1, 0.1, 0.8] },
      ],
      true,
    ],
    ["all on one router, shared", [{ key: hot, perSecond: 320, skew: [1, 0, 0] }], true],
    ["even, shared", [{ key: hot, perSecond: 320, skew: [1 / 3, 1 / 3, 1 / 3] }], true],
    [
      "skew 70/25/5, fixed 1/N",
      [
        { key: hot, perSecond: 320, skew: [0.7, 0.25, 0.05] },
        { key: cool, perSecond: 40, skew: [0.1, 0.3, 0.6] },
      ],
      false,
    ],
  ];
  for (const [name, traffic, shared] of runs) {
    const o = simulate(traffic, 3, 20, shared);
    const f = (k: string) => `${k} ${((o.admitted.get(k) ?? 0) / 20).toFixed(1)}/s admitted, ${o.refused.get(k) ?? 0} refused`;
    const hotRates = Array.from({ length: 20 }, (_, seed) => (simulate(traffic, 3, 20, shared, seed + 1).admitted.get("hot") ?? 0) / 20);
    console.log(`${name}: ${f("hot")}; ${f("cool")}; hot over 20 seeds ${Math.min(...hotRates).toFixed(1)}-${Math.max(...hotRates).toFixed(1)}/s`);
  }
}
