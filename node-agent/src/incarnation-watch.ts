import type { Incarnation } from "./incarnation.ts";
import type { InstanceLog } from "./instance-log.ts";
import type { ProcessDriver } from "./process-driver.ts";
import { isCpuFallbackLine } from "./replica-status.ts";

/**
 * What a supervisor learns about its TEI process without asking: the process ended, or its log
 * gives away a silent CPU fallback. A watcher only marks the incarnation and calls back; the
 * supervisor's loop re-reads the incarnation and decides what the news means.
 */

/** Marks `p.exited` once the process ends, then calls `onExit`. */
export function watchExit(driver: ProcessDriver, p: Incarnation, onExit: () => void): void {
  void driver.wait(p.handle).then((exit) => {
    p.exited = exit;
    onExit();
  });
}

/**
 * Watches `log` for a silent CPU fallback (tei.md §5.1: TEI runs, slowly, on the CPU when CUDA
 * cannot start) of the `current()` incarnation, records the first sign in `cpuFallback` and calls
 * `onFallback`. Only an incarnation given GPUs can fall back, and only its own output counts: a
 * line before its `logStart` was written by an earlier process.
 */
export function watchCpuFallback(log: InstanceLog, current: () => Incarnation | undefined, onFallback: () => void): void {
  log.onLine((line) => {
    const p = current();
    if (!p || p.cpuFallback || p.gpuUuids.length === 0 || line.offset < p.logStart) return;
    if (isCpuFallbackLine(line)) {
      p.cpuFallback = line.message ?? line.raw;
      onFallback();
    }
  });
}
