/**
 * How the router's V8 is tuned for latency, one decision each: the memory reducer off, and the
 * garbage of start-up collected once, when the router turns ready, instead of by the first
 * scavenges under traffic. Called by main.ts only: a router embedded in another process (tests,
 * benches) leaves that process's runtime alone.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * The Node flags a router is started with (`node --no-memory-reducer router/src/main.ts`: the
 * systemd unit, the Kubernetes manifest, the test harness and the benches pass them). V8's memory
 * reducer takes a steady trickle of calls (one client at concurrency 1) for an idle process and
 * runs full mark-compacts to shrink the heap, its marking threads competing with TEI for the
 * host's cores, and its first cycle comes about 8 s after start, under traffic (a 22 ms pause
 * in bench:admission's routers). Off, the heap keeps its few tens of MiB and a call at
 * concurrency 1 costs the router ~25% less CPU (measured: 88-96 µs -> 66-71 µs per call).
 */
export const ROUTER_NODE_FLAGS: readonly string[] = ["--no-memory-reducer"];

/**
 * Turns the memory reducer off at run time too, for a router started without
 * {@link ROUTER_NODE_FLAGS}: that stops its later cycles, but not the first one, which V8 has
 * scheduled by then (measured: a mark-compact pair 8 s after start with the flag set at run time,
 * none with it on the command line).
 */
export function disableMemoryReducer(): void {
  setFlagsFromString("--no-memory-reducer");
}

/**
 * One full collection, for when start-up is over (the router has its first route table and
 * turns ready). Start-up leaves the young generation full of what loading modules, reading the
 * configuration and the first table allocated, much of it still alive; the first scavenges then
 * copy it under traffic, 10-33 ms each on this 2-core machine, a pause every call in flight
 * waits out (bench:admission's probe saw refusals take 6-20 ms instead of under 5). Taken here,
 * the pause (~20 ms) comes before a load balancer sends anything, and later scavenges find
 * little alive. `gc` is exposed in a context of its own, so the process's globals stay as Node
 * makes them. Returns the pause in ms.
 */
export function collectStartupGarbage(): number {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const started = performance.now();
  gc();
  return performance.now() - started;
}
