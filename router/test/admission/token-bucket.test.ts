import { expect, test } from "vitest";
import { TokenBucket } from "../../src/admission/token-bucket.ts";

test("admits the burst at once, then the sustained rate", () => {
  const b = new TokenBucket(80, 50, 0);
  let admitted = 0;
  for (let i = 0; i < 100; i++) if (b.take(1, 0)) admitted++;
  expect(admitted).toBe(50);
  // One idle second later: the burst again, not 80 (it does not refill past its size).
  for (let i = 0; i < 200; i++) if (b.take(1, 1000)) admitted++;
  expect(admitted).toBe(100);
  // Calls spread over the next second: the sustained 80.
  for (let i = 1; i <= 400; i++) if (b.take(1, 1000 + i * 2.5)) admitted++;
  expect(admitted).toBe(180);
});

test("says how long until a token is there", () => {
  const b = new TokenBucket(80, 50, 0);
  for (let i = 0; i < 50; i++) b.take(1, 0);
  expect(b.waitMs(1, 0)).toBeCloseTo(12.5);
  expect(b.waitMs(1, 12.5)).toBe(0);
});

test("a cost charged after the fact can put it in debt, and nothing is solvent until repaid", () => {
  const b = new TokenBucket(1000 / 60, 1000, 0); // 1,000 tokens per minute
  expect(b.solvent(0)).toBe(true);
  b.charge(1600, 0);
  expect(b.solvent(0)).toBe(false);
  expect(b.waitMs(Number.MIN_VALUE, 0)).toBeCloseTo(36_000);
  expect(b.solvent(36_001)).toBe(true);
});

test("a new rate keeps what is held, capped at the new burst; a burst under 1 is 1", () => {
  const b = new TokenBucket(10, 10, 0);
  b.configure(1, 3, 0);
  expect(b.tokens(0)).toBe(3);
  const tiny = new TokenBucket(0.5, 0.2, 0);
  expect(tiny.take(1, 0)).toBe(true);
  expect(tiny.take(1, 1000)).toBe(false);
  expect(tiny.take(1, 2000)).toBe(true);
});
