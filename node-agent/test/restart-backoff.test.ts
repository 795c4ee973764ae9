import { describe, expect, it } from "vitest";
import { RestartBackoff } from "../src/restart-backoff.ts";

describe("restart backoff", () => {
  it("doubles the delay per consecutive failure up to the cap", () => {
    const b = new RestartBackoff({ initialDelayMs: 1000, maxDelayMs: 5000, crashLoopFailures: 100 });
    expect([1, 2, 3, 4, 5].map((i) => b.recordFailure(i).delayMs)).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it("reports crash_loop past the maximum rate and retries only at the cap", () => {
    const b = new RestartBackoff({ initialDelayMs: 10, maxDelayMs: 60_000, crashLoopFailures: 3, crashLoopWindowMs: 1000 });
    expect(b.recordFailure(0).crashLoop).toBe(false);
    expect(b.recordFailure(100).crashLoop).toBe(false);
    const third = b.recordFailure(200);
    expect(third).toEqual({ crashLoop: true, delayMs: 60_000, consecutiveFailures: 3 });
  });

  it("does not count failures older than the window toward crash_loop", () => {
    const b = new RestartBackoff({ crashLoopFailures: 2, crashLoopWindowMs: 1000 });
    b.recordFailure(0);
    expect(b.recordFailure(5000).crashLoop).toBe(false);
  });

  it("forgets failures after running healthily long enough", () => {
    const b = new RestartBackoff({ initialDelayMs: 100, resetAfterMs: 1000 });
    b.recordFailure(0);
    b.recordFailure(1);
    b.recordHealthy(10, 500);
    expect(b.consecutiveFailures).toBe(2);
    b.recordHealthy(10, 1010);
    expect(b.consecutiveFailures).toBe(0);
    expect(b.recordFailure(2000).delayMs).toBe(100);
  });
});
