import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { clone, create, type MessageInitShape } from "@bufbuild/protobuf";
import { type ReplicaPhase, replicaPhaseFromProto } from "@tei-fleet/core";
import { type Assignment, AssignmentSchema, InstanceSpecSchema, type ReplicaStatus } from "@tei-fleet/proto/fleet/v1";
import { pino } from "pino";
import { freePort } from "../../test/harness/free-port.ts";
import { type AssignmentReconciler, createAssignmentReconciler } from "../src/assignment-reconciler.ts";
import { declaredGpus, type GpuInfo } from "../src/gpu-inventory.ts";
import type { SupervisorTiming } from "../src/instance-supervisor.ts";
import { createProcessDriver, type ProcessDriver } from "../src/process-driver.ts";
import { createProcessStateStore } from "../src/process-state-file.ts";
import type { RestartPolicy } from "../src/restart-backoff.ts";

/** The shared fake `text-embeddings-router`. */
export const FAKE_TEI = fileURLToPath(new URL("../../test/fake-tei/bin/text-embeddings-router", import.meta.url));

/** A quiet logger (set TEST_LOG=debug to see the agent's logs). */
export const testLogger = pino({ level: process.env.TEST_LOG ?? "silent" });

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(prefix = "tei-agent-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** An assignment on free ports with test defaults; `init.spec` is merged into the default spec. */
export async function makeAssignment(init: MessageInitShape<typeof AssignmentSchema> = {}): Promise<Assignment> {
  const { spec, ...rest } = init;
  return create(AssignmentSchema, {
    assignmentId: "emb-0",
    instanceName: "emb",
    replica: 0,
    revision: 1n,
    port: await freePort(),
    prometheusPort: await freePort(),
    desiredState: "running",
    ...rest,
    spec: Object.assign(create(InstanceSpecSchema, { name: rest.instanceName ?? "emb", modelId: "BAAI/bge-small-en-v1.5", startupTimeoutSecs: 20 }), spec),
  });
}

/** `a` at another revision with `spec` merged into its spec: what a spec change sends the agent. */
export function withSpec(a: Assignment, revision: bigint, spec: MessageInitShape<typeof InstanceSpecSchema>, init: Partial<Assignment> = {}): Assignment {
  const next = Object.assign(clone(AssignmentSchema, a), init, { revision });
  next.spec = Object.assign(clone(InstanceSpecSchema, a.spec ?? create(InstanceSpecSchema)), spec);
  return next;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws). */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Fast timings so failures are seen in tests within seconds. */
export const FAST_TIMING: SupervisorTiming = {
  probeIntervalMs: 200,
  probeTimeoutMs: 500,
  probeFailureThreshold: 2,
  readinessPollMs: 50,
  stopGraceMs: 2_000,
  unhealthyDrainMs: 100,
  invalidRecheckMs: 60_000,
};

export const FAST_RESTARTS: RestartPolicy = {
  initialDelayMs: 50,
  maxDelayMs: 2_000,
  crashLoopFailures: 3,
  crashLoopWindowMs: 60_000,
};

/** Options of {@link testReconciler}. */
export interface TestReconcilerOptions {
  stateDir: string;
  env?: Record<string, string | undefined>;
  passEnv?: string[];
  gpus?: GpuInfo[];
  teiBinary?: string;
  advertiseAddress?: string;
  timing?: SupervisorTiming;
  restartPolicy?: RestartPolicy;
  driver?: ProcessDriver;
  /** Sees every status change (e.g. to assert a short-lived `unhealthy`). */
  onStatusChange?: (status: ReplicaStatus) => void;
}

/** A reconciler wired like the agent's, without a control plane. */
export function testReconciler(options: TestReconcilerOptions): AssignmentReconciler {
  const driver = options.driver ?? createProcessDriver({ pollIntervalMs: 100 });
  const processStore = createProcessStateStore(options.stateDir);
  const gpus = options.gpus ?? declaredGpus("test-node", 2, 81920);
  return createAssignmentReconciler({
    stateDir: options.stateDir,
    driver,
    processStore,
    logger: testLogger,
    logOptions: { pollIntervalMs: 50 },
    supervisorDeps: {
      driver,
      processStore,
      logger: testLogger,
      launchContext: () => ({
        teiBinary: options.teiBinary ?? FAKE_TEI,
        advertiseAddress: options.advertiseAddress ?? "127.0.0.1",
        passEnv: options.passEnv ?? ["HF_TOKEN", "FAKE_TEI_*"],
        parentEnv: options.env ?? { PATH: process.env.PATH, HOME: process.env.HOME },
        gpus,
      }),
      timing: { ...FAST_TIMING, ...options.timing },
      restartPolicy: { ...FAST_RESTARTS, ...options.restartPolicy },
      onStatusChange: options.onStatusChange,
    },
  });
}

/** A reported status with its phase as a word (core's mapping of the proto enum), for assertions. */
export type StatusView = Omit<ReplicaStatus, "status"> & { status: ReplicaPhase | undefined };

/** `status` with its phase as a word. */
export function viewOf(status: ReplicaStatus): StatusView {
  return { ...status, status: replicaPhaseFromProto(status.status) };
}

/** The status of assignment `id` in a reconciler. */
export function statusOf(reconciler: AssignmentReconciler, id: string): StatusView | undefined {
  const status = reconciler.statuses().find((s) => s.assignmentId === id);
  return status && viewOf(status);
}

/** Waits until the reconciler reports the assignment `running`, and returns that status. */
export function waitForRunning(reconciler: AssignmentReconciler, id: string, timeoutMs = 15_000, what = "running") {
  return waitFor(
    () => {
      const s = statusOf(reconciler, id);
      return s?.status === "running" ? s : undefined;
    },
    timeoutMs,
    what,
  );
}
