import { expect, test } from "vitest";
import { DeficitRoundRobin } from "../../src/admission/deficit-round-robin.ts";

interface Item {
  done: boolean;
  flow: string;
  n: number;
}

function fill(drr: DeficitRoundRobin<Item>, flow: string, weight: number, count: number): Item[] {
  const items: Item[] = [];
  for (let n = 0; n < count; n++) {
    const it = { done: false, flow, n };
    items.push(it);
    drr.push(flow, weight, it);
  }
  return items;
}

function served(drr: DeficitRoundRobin<Item>, count: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const it = drr.pop();
    if (it === undefined) break;
    m.set(it.flow, (m.get(it.flow) ?? 0) + 1);
  }
  return m;
}

test("flows take turns in proportion to their weights, each in its own order", () => {
  const drr = new DeficitRoundRobin<Item>();
  fill(drr, "flood", 1, 10_000);
  fill(drr, "small", 1, 1000);
  fill(drr, "paid", 3, 1000);
  const m = served(drr, 500);
  expect(m.get("flood")).toBe(100);
  expect(m.get("small")).toBe(100);
  expect(m.get("paid")).toBe(300);
  const order: number[] = [];
  for (let i = 0; i < 5; i++) order.push((drr.pop() as Item).n);
  expect(order).toEqual([100, 100, 300, 301, 302]);
});

test("a fractional weight is served every few rounds", () => {
  const drr = new DeficitRoundRobin<Item>();
  fill(drr, "a", 1, 100);
  fill(drr, "b", 0.25, 100);
  const m = served(drr, 50);
  expect(m.get("a")).toBe(40);
  expect(m.get("b")).toBe(10);
});

test("an emptied flow leaves the round without keeping a deficit; done items cost no turn", () => {
  const drr = new DeficitRoundRobin<Item>();
  const a = fill(drr, "a", 5, 2);
  fill(drr, "b", 1, 10);
  for (const it of a) it.done = true;
  expect((drr.pop() as Item).flow).toBe("b");
  expect(drr.activeFlows).toBe(1);
  fill(drr, "a", 5, 10);
  expect(served(drr, 12)).toEqual(
    new Map([
      ["b", 2],
      ["a", 10],
    ]),
  );
  expect(drr.pop()?.flow).toBe("b");
});

test("pop on an empty queue is undefined", () => {
  const drr = new DeficitRoundRobin<Item>();
  expect(drr.pop()).toBeUndefined();
  const [only] = fill(drr, "a", 1, 1);
  (only as Item).done = true;
  expect(drr.pop()).toBeUndefined();
  expect(drr.activeFlows).toBe(0);
});
