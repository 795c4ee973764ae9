import { readFile } from "node:fs/promises";

/** The fields of `/proc/<pid>/stat` the agent relies on. */
export interface ProcStat {
  pid: number;
  /** One-letter state: R, S, D, Z (zombie), T, ... */
  state: string;
  /** Process group id. */
  pgrp: number;
  /**
   * Start time in clock ticks since boot (field 22). Together with the pid it identifies one
   * process for the lifetime of the machine, so a recycled pid is never mistaken for TEI.
   */
  startTime: string;
}

/**
 * Parses the content of `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may
 * itself contain spaces and parentheses, so the remaining fields are counted from the last `)`.
 */
export function parseProcStat(content: string): ProcStat | undefined {
  const open = content.indexOf("(");
  const close = content.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(content.slice(0, open).trim());
  // After ")": field 3 (state) is index 0, field 5 (pgrp) index 2, field 22 (starttime) index 19.
  const rest = content
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = rest[0];
  const pgrp = Number(rest[2]);
  const startTime = rest[19];
  if (!Number.isInteger(pid) || state === undefined || !Number.isInteger(pgrp) || startTime === undefined) {
    return undefined;
  }
  return { pid, state, pgrp, startTime };
}

/** Reads `/proc/<pid>/stat`; `undefined` when the process does not exist. */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` is still the process that was started at `startTime` and has not exited (a
 * zombie has exited; it only waits for its parent to collect the status).
 */
export async function isSameLiveProcess(pid: number, startTime: string): Promise<boolean> {
  const stat = await readProcStat(pid);
  return stat !== undefined && stat.startTime === startTime && stat.state !== "Z" && stat.state !== "X";
}
