import type { Logger } from "pino";
import type { Incarnation } from "./incarnation.ts";
import type { ProcessDriver } from "./process-driver.ts";
import type { ProcessRecord, ProcessStateStore } from "./process-state-file.ts";

/**
 * The two ways a supervisor lets go of its TEI process: stop it (Nomad's StopTask), or release it
 * running for the next agent to re-attach to (see process-recovery.ts). Either way its client is
 * closed; forgetting the incarnation is the supervisor's part.
 */

/** What {@link stopIncarnation} needs from the supervisor. */
export interface StopDeps {
  driver: ProcessDriver;
  /** The supervisor's logger (already bound to the replica). */
  logger: Logger;
  /** SIGTERM → SIGKILL grace. */
  graceMs: number;
}

/**
 * Stops `p` unless it has already exited (SIGTERM, grace, SIGKILL, on its process group), records
 * how it ended in `p.exited`, and closes its client.
 */
export async function stopIncarnation(p: Incarnation, why: string, deps: StopDeps): Promise<void> {
  if (!p.exited) {
    deps.logger.info({ pid: p.handle.pid, why }, "stopping TEI");
    p.exited = await deps.driver.stop(p.handle, deps.graceMs);
  }
  p.client.close();
}

/** What {@link releaseIncarnation} needs from the supervisor. */
export interface ReleaseDeps {
  driver: ProcessDriver;
  processStore: ProcessStateStore;
}

/**
 * Leaves `p` running: the driver stops watching it, and `record` is saved so the next agent finds
 * it. A record that cannot be saved is not an error here: that agent then finds the process on
 * its port instead (process-launch.ts).
 */
export async function releaseIncarnation(p: Incarnation, record: ProcessRecord, deps: ReleaseDeps): Promise<void> {
  deps.driver.release(p.handle);
  await deps.processStore.write(record).catch(() => {});
  p.client.close();
}
