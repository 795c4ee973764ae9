import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Assignment, type Node, NodeSchema } from "@tei-fleet/proto/fleet/v1";
import type { Logger } from "pino";
import type { AssignmentReconciler } from "./assignment-reconciler.ts";
import { delay, Wakeup } from "./async-utils.ts";
import type { AgentServiceClient } from "./control-plane-client.ts";
import type { DesiredStateFile } from "./desired-state-file.ts";
import type { AgentMetrics } from "./metrics.ts";

/**
 * The agent's conversation with the control plane: register, heartbeat with the full observed
 * status, apply the full desired list that comes back, and watch assignments for low latency.
 * Everything is level-triggered; the watch stream is only a shortcut, heartbeats alone converge.
 * When the control plane (or its Redis) is away, nothing here stops or restarts instances: the
 * reconciler keeps running the last desired state, which is also on disk.
 */

/** Options of {@link createControlPlaneSession}. */
export interface SessionOptions {
  client: AgentServiceClient;
  /** The node as registered (inventory, labels, agent URL); called at every (re-)registration. */
  node: () => Node;
  reconciler: AssignmentReconciler;
  desiredFile: DesiredStateFile;
  logger: Logger;
  metrics?: AgentMetrics;
  /** Free memory per GPU index for heartbeats, when measured. */
  gpuMemoryFree?: () => Map<number, bigint>;
  /** Heartbeat period; default: what Register returns, else 5000 ms. */
  heartbeatIntervalMs?: number;
  /** Deadline of unary calls. Default 5000 ms. */
  callTimeoutMs?: number;
  /** Retry delays after errors: first and cap. Defaults 500 ms and 10000 ms. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Version of the desired state loaded from disk (sent as known version at first). */
  initialVersion?: bigint;
}

/** A running session. */
export interface ControlPlaneSession {
  /** Asks for a heartbeat soon (a replica status changed). */
  nudge(): void;
  /** Resolves after the first successful heartbeat (or never, while the control plane is away). */
  readonly synced: Promise<void>;
  /** Sends one heartbeat now (e.g. every replica `stopping` before a shutdown); never throws. */
  heartbeatNow(): Promise<boolean>;
  /** Tells the control plane this node leaves on purpose, then stops the loops. */
  leave(): Promise<void>;
  /** Stops the loops without telling anyone (the agent restarts). */
  stop(): Promise<void>;
}

/** Starts registering, heartbeating and watching. */
export function createControlPlaneSession(options: SessionOptions): ControlPlaneSession {
  const { client, logger } = options;
  const callTimeoutMs = options.callTimeoutMs ?? 5_000;
  const retryInitialMs = options.retryInitialMs ?? 500;
  const retryMaxMs = options.retryMaxMs ?? 10_000;
  const abort = new AbortController();
  const heartbeatWake = new Wakeup();
  const registered = new Wakeup();
  let epoch: bigint | undefined;
  let intervalMs = options.heartbeatIntervalMs ?? 5_000;
  let appliedVersion = options.initialVersion ?? 0n;
  let applying: Promise<void> = Promise.resolve();
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((resolve) => {
    markSynced = resolve;
  });
  let lastNudge = 0;

  /** Persists, then applies, a full desired list. Serialised so versions apply in order. */
  function applyAssignments(version: bigint, assignments: Assignment[], source: string): Promise<void> {
    applying = applying.then(async () => {
      logger.info({ version: version.toString(), count: assignments.length, source }, "applying desired assignments");
      appliedVersion = version;
      // Saved first: the file is never older than the processes it describes.
      await options.desiredFile
        .save({ version, assignments, savedAtMs: Date.now() })
        .catch((error: unknown) => logger.error({ err: error }, "cannot save the desired state file"));
      await options.reconciler.apply(assignments);
    });
    return applying;
  }

  async function register(): Promise<void> {
    let wait = retryInitialMs;
    let attempt = 0;
    while (!abort.signal.aborted) {
      attempt += 1;
      try {
        const res = await client.register({ node: options.node() }, { timeoutMs: callTimeoutMs, signal: abort.signal });
        epoch = res.epoch;
        options.metrics?.controlPlaneConnected(true);
        if (options.heartbeatIntervalMs === undefined && res.heartbeatIntervalMs > 0) intervalMs = res.heartbeatIntervalMs;
        logger.info({ epoch: epoch.toString(), heartbeatIntervalMs: intervalMs }, "registered with the control plane");
        registered.notify();
        return;
      } catch (error) {
        if (abort.signal.aborted) return;
        options.metrics?.controlPlaneConnected(false);
        const e = ConnectError.from(error);
        // Log the first failures and then every tenth, so a long outage does not flood the log.
        if (attempt <= 3 || attempt % 10 === 0) {
          const level = e.code === Code.Unauthenticated || e.code === Code.PermissionDenied ? "error" : "warn";
          logger[level]({ attempt, code: Code[e.code], err: e.rawMessage }, "cannot register with the control plane; retrying");
        }
        await delay(wait, abort.signal);
        wait = Math.min(retryMaxMs, wait * 2);
      }
    }
  }

  function heartbeatRequest(knownVersion: bigint) {
    return {
      nodeName: options.node().name,
      epoch: epoch ?? 0n,
      replicas: options.reconciler.statuses(),
      gpuMemoryFreeMb: Object.fromEntries(options.gpuMemoryFree?.() ?? new Map()),
      knownAssignmentsVersion: knownVersion,
    };
  }

  async function heartbeatLoop(): Promise<void> {
    await register();
    let failures = 0;
    while (!abort.signal.aborted) {
      const sentVersion = appliedVersion;
      try {
        const res = await client.heartbeat(heartbeatRequest(sentVersion), { timeoutMs: callTimeoutMs, signal: abort.signal });
        options.metrics?.heartbeat(true);
        options.metrics?.controlPlaneConnected(true);
        if (failures > 0) logger.info({ after: failures }, "control plane reachable again");
        failures = 0;
        if (res.reregister) {
          logger.warn("control plane does not know this node (epoch); registering again");
          await register();
          continue;
        }
        // A response computed against a version we have since replaced (the watch stream was
        // faster) is stale; a lower version with nothing applied in between means the control
        // plane's state was reset, and is applied.
        if (res.assignmentsChanged && (appliedVersion === sentVersion || res.assignmentsVersion > appliedVersion)) {
          await applyAssignments(res.assignmentsVersion, res.assignments, "heartbeat");
        }
        markSynced();
      } catch (error) {
        if (abort.signal.aborted) return;
        options.metrics?.heartbeat(false);
        options.metrics?.controlPlaneConnected(false);
        failures += 1;
        const e = ConnectError.from(error);
        if (failures <= 3 || failures % 10 === 0) {
          logger.warn({ failures, code: Code[e.code], err: e.rawMessage }, "heartbeat failed; instances keep running");
        }
        if (e.code === Code.NotFound || e.code === Code.FailedPrecondition) await register();
      }
      await heartbeatWake.wait(failures > 0 ? Math.min(intervalMs, retryMaxMs) : intervalMs);
    }
  }

  async function watchLoop(): Promise<void> {
    let wait = retryInitialMs;
    while (!abort.signal.aborted) {
      if (epoch === undefined) {
        await registered.wait(1_000);
        continue;
      }
      try {
        let first = true;
        for await (const msg of client.watchAssignments({ nodeName: options.node().name, epoch }, { signal: abort.signal })) {
          wait = retryInitialMs;
          // The first message of a stream is a full snapshot: always current, even if the
          // version went back (control plane state reset).
          if (first || msg.assignmentsVersion > appliedVersion) {
            if (msg.assignmentsVersion !== appliedVersion || first) {
              await applyAssignments(msg.assignmentsVersion, msg.assignments, "watch");
            }
          }
          first = false;
        }
      } catch (error) {
        if (abort.signal.aborted) return;
        const e = ConnectError.from(error);
        logger.debug({ code: Code[e.code], err: e.rawMessage }, "assignment watch ended; heartbeats still converge");
      }
      await delay(wait, abort.signal);
      wait = Math.min(retryMaxMs, wait * 2);
    }
  }

  const loops = Promise.all([heartbeatLoop(), watchLoop()]);

  async function stopLoops(): Promise<void> {
    abort.abort();
    heartbeatWake.notify();
    registered.notify();
    await loops.catch(() => {});
    await applying.catch(() => {});
  }

  return {
    nudge() {
      // Coalesce bursts of status changes into one early heartbeat.
      const now = Date.now();
      if (now - lastNudge < 100) return;
      lastNudge = now;
      setTimeout(() => heartbeatWake.notify(), 100).unref();
    },
    synced,
    async heartbeatNow() {
      if (epoch === undefined) return false;
      try {
        // The known version is the applied one, so the answer carries no assignments to apply.
        await client.heartbeat(heartbeatRequest(appliedVersion), { timeoutMs: callTimeoutMs });
        return true;
      } catch {
        return false;
      }
    },
    async leave() {
      const current = epoch;
      await stopLoops();
      if (current === undefined) return;
      try {
        await client.leave({ nodeName: options.node().name, epoch: current }, { timeoutMs: callTimeoutMs });
        logger.info("left the fleet");
      } catch (error) {
        logger.warn({ err: ConnectError.from(error).rawMessage }, "could not tell the control plane this node leaves");
      }
    },
    stop: stopLoops,
  };
}

/** Builds the Node message the agent registers with. */
export function nodeMessage(fields: MessageInitShape<typeof NodeSchema>): Node {
  return create(NodeSchema, fields);
}
