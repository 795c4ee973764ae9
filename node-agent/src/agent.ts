import { mkdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { formatHostPort } from "@tei-fleet/core";
import type { Logger } from "pino";
import { createAgentHttp } from "./agent-http.ts";
import { type AssignmentReconciler, createAssignmentReconciler } from "./assignment-reconciler.ts";
import { delay } from "./async-utils.ts";
import type { AgentConfig } from "./config.ts";
import { type AgentServiceClient, createControlPlaneClient } from "./control-plane-client.ts";
import { type ControlPlaneSession, createControlPlaneSession, nodeMessage } from "./control-plane-session.ts";
import { createDesiredStateFile } from "./desired-state-file.ts";
import { type GpuInfo, type GpuInventorySource, readGpuInventory } from "./gpu-inventory.ts";
import { type AgentMetrics, createAgentMetrics } from "./metrics.ts";
import { createProcessDriver } from "./process-driver.ts";
import { createProcessStateStore } from "./process-state-file.ts";

/** Reported as Node.agent_version. */
export const AGENT_VERSION = "0.1.0";

/** How often nvidia-smi is asked for free memory (heartbeats carry it). */
const GPU_REFRESH_MS = 30_000;

/** Extra wiring for tests and embedding. */
export interface NodeAgentDeps {
  logger: Logger;
  /** The environment TEI's pass-through names are taken from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** A control plane client to use instead of the Connect one (tests). */
  client?: AgentServiceClient;
  /** nvidia-smi command (tests point it at a fake). */
  nvidiaSmi?: string;
}

/** A started node agent. */
export interface NodeAgent {
  /** Base URL of the agent HTTP API, as registered (Node.agent_url). */
  readonly url: string;
  readonly reconciler: AssignmentReconciler;
  readonly metrics: AgentMetrics;
  gpus(): GpuInfo[];
  /**
   * Graceful shutdown. With `stopInstancesOnExit` (the default): report every replica `stopping`,
   * give routers `shutdownDrainMs` to drop them, stop them, and Leave. Without: leave TEI running
   * for the next agent to re-attach to, and do not Leave (the node is not going away).
   */
  shutdown(): Promise<void>;
}

/** Starts the agent: inventory, re-attach, local desired state, HTTP API, control plane session. */
export async function startNodeAgent(config: AgentConfig, deps: NodeAgentDeps): Promise<NodeAgent> {
  const logger = deps.logger;
  const env = deps.env ?? process.env;
  await mkdir(config.stateDir, { recursive: true, mode: 0o750 });

  const source: GpuInventorySource = config.gpus ? { kind: "declared", ...config.gpus } : { kind: "nvidia-smi", command: deps.nvidiaSmi };
  const first = await readGpuInventory(config.nodeName, source);
  if (first.warning) logger.warn(first.warning);
  let gpus = first.gpus;
  logger.info({ gpus: gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, memoryTotalMb: g.memoryTotalMb })) }, "GPU inventory");

  const driver = createProcessDriver();
  const processStore = createProcessStateStore(config.stateDir);
  const desiredFile = createDesiredStateFile(config.stateDir);
  let session: ControlPlaneSession | undefined;

  let reconciler: AssignmentReconciler | undefined;
  const metrics = createAgentMetrics(() =>
    (reconciler?.supervisors() ?? []).map((s) => {
      const a = s.assignment();
      const st = s.status();
      return {
        assignmentId: a.assignmentId,
        instance: a.instanceName,
        status: s.phase(),
        restarts: st.restarts,
        port: a.port,
        prometheusPort: a.prometheusPort,
      };
    }),
  );

  reconciler = createAssignmentReconciler({
    stateDir: config.stateDir,
    driver,
    processStore,
    logger,
    supervisorDeps: {
      driver,
      processStore,
      logger,
      launchContext: () => ({ teiBinary: config.teiBinary, advertiseAddress: config.advertiseAddress, passEnv: config.passEnv, parentEnv: env, gpus }),
      timing: config.timing,
      restartPolicy: config.restartPolicy,
      metrics,
      onStatusChange: () => session?.nudge(),
    },
  });

  // Ready once the saved desired state has been taken up (below), until a shutdown begins.
  let lifecycle: "starting" | "ready" | "shutting_down" = "starting";
  const app = createAgentHttp({
    reconciler,
    metrics,
    logger,
    advertiseAddress: config.advertiseAddress,
    health: () => ({ node: config.nodeName }),
    ready: () => ({ ok: lifecycle === "ready", details: { node: config.nodeName, state: lifecycle } }),
    token: config.joinToken,
  });
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const bound = app.server.address() as AddressInfo;
  const wildcard = config.listen.host === "0.0.0.0" || config.listen.host === "::";
  const urlHost = wildcard ? config.advertiseAddress : config.listen.host;
  const url = `http://${formatHostPort({ host: urlHost, port: bound.port })}`;
  logger.info({ url }, "agent HTTP API listening");

  // Static stability: run what was last desired, re-attaching to processes that survived us.
  let initialVersion = 0n;
  try {
    const saved = await desiredFile.load();
    if (saved) {
      initialVersion = saved.version;
      logger.info({ version: saved.version.toString(), count: saved.assignments.length }, "loaded the last desired state from disk");
      await reconciler.recover(saved.assignments);
      await reconciler.apply(saved.assignments);
    }
    // Without a saved desired state, surviving TEI processes are left alone: when the control
    // plane assigns them again, the supervisors find them on their ports and re-attach.
  } catch (error) {
    logger.error({ err: error, path: desiredFile.path }, "cannot read the saved desired state; waiting for the control plane");
  }

  const gpuTimer =
    source.kind === "nvidia-smi" && gpus.length > 0
      ? setInterval(() => {
          void readGpuInventory(config.nodeName, source).then((r) => {
            if (r.gpus.length > 0) gpus = r.gpus;
          });
        }, GPU_REFRESH_MS)
      : undefined;
  gpuTimer?.unref();

  const client = deps.client ?? createControlPlaneClient(config.controlPlaneUrl, config.joinToken);
  if (!config.joinToken) logger.warn("TEI_FLEET_JOIN_TOKEN is not set; the control plane may refuse this agent");
  session = createControlPlaneSession({
    client,
    reconciler,
    desiredFile,
    logger,
    metrics,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    initialVersion,
    gpuMemoryFree: () => new Map(gpus.map((g) => [g.index, BigInt(g.memoryFreeMb)])),
    node: () =>
      nodeMessage({
        name: config.nodeName,
        address: config.advertiseAddress,
        agentUrl: url,
        labels: config.labels,
        gpus: gpus.map((g) => ({
          index: g.index,
          uuid: g.uuid,
          name: g.name,
          memoryTotalMb: BigInt(g.memoryTotalMb),
          memoryFreeMb: BigInt(g.memoryFreeMb),
        })),
        agentVersion: AGENT_VERSION,
        capacity: config.capacity,
        portRangeStart: config.portRange.start,
        portRangeEnd: config.portRange.end,
      }),
  });

  lifecycle = "ready";
  let shuttingDown: Promise<void> | undefined;
  return {
    url,
    reconciler,
    metrics,
    gpus: () => gpus,
    shutdown() {
      shuttingDown ??= (async () => {
        lifecycle = "shutting_down";
        clearInterval(gpuTimer);
        const s = session!;
        if (config.stopInstancesOnExit) {
          reconciler.markAllStopping("agent shutting down");
          if (await s.heartbeatNow()) await delay(config.shutdownDrainMs);
          await s.leave();
          await reconciler.shutdown("stop");
        } else {
          await s.stop();
          await reconciler.shutdown("detach");
        }
        await app.close();
      })();
      return shuttingDown;
    },
  };
}
