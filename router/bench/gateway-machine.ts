/**
 * How busy the machine was besides the benchmark: CPU time of the whole machine from /proc/stat
 * minus that of the benchmark's own processes (this one and the h2load runs it waited for, the
 * fake TEIs, the router, the naive gateway). Other helpers share this 2-core machine; the figure
 * tells the reader how much of it they took.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { cpuSeconds } from "./cpu-time.ts";

/** USER_HZ of /proc/stat and /proc/<pid>/stat. */
const TICKS_PER_SECOND = 100;

/** Busy CPU seconds of the whole machine since boot (all but idle and iowait). */
function machineBusySeconds(): number {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] as string;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return (total - (f[3] ?? 0) - (f[4] ?? 0)) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU seconds of this process plus its waited-for children (h2load). */
function selfSeconds(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** A snapshot to compare against later. */
export interface MachineMark {
  at: number;
  busy: number;
  ours: number;
}

/** Marks now; `pids` are the benchmark's long-running processes. */
export function markMachine(pids: number[]): MachineMark {
  return { at: performance.now(), busy: machineBusySeconds(), ours: selfSeconds() + pids.reduce((s, p) => s + cpuSeconds(p), 0) };
}

/** What happened between two marks: wall seconds, and the share of the machine others used. */
export function otherLoad(from: MachineMark, to: MachineMark): { wallSeconds: number; busySeconds: number; otherSeconds: number; otherShare: number } {
  const wallSeconds = (to.at - from.at) / 1000;
  const busySeconds = to.busy - from.busy;
  const otherSeconds = Math.max(0, busySeconds - (to.ours - from.ours));
  return { wallSeconds, busySeconds, otherSeconds, otherShare: otherSeconds / Math.max(1e-9, wallSeconds * cpus().length) };
}
