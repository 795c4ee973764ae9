import { describe, expect, it } from "vitest";
import { ConfigError, resolveConfig } from "../src/config.ts";

const required = { controlPlane: "http://10.0.0.1:9000", nodeName: "gpu-1", advertiseAddress: "10.0.0.5", teiBinary: "/usr/local/bin/text-embeddings-router" };

function problem(raw: Parameters<typeof resolveConfig>[0], env: Record<string, string> = {}): string {
  try {
    resolveConfig(raw, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("agent configuration", () => {
  it("has documented defaults", () => {
    const c = resolveConfig(required, { TEI_FLEET_JOIN_TOKEN: "t" });
    expect(c).toMatchObject({
      joinToken: "t",
      gpus: undefined,
      listen: { host: "10.0.0.5", port: 9101 },
      portRange: { start: 20000, end: 20999 },
      stopInstancesOnExit: true,
      capacity: 64,
      heartbeatIntervalMs: undefined,
      shutdownDrainMs: 2000,
      timing: {
        probeIntervalMs: 5000,
        probeTimeoutMs: 5000,
        probeFailureThreshold: 3,
        defaultStartupTimeoutMs: 600_000,
        stopGraceMs: 10_000,
        unhealthyDrainMs: 2000,
      },
      restartPolicy: { initialDelayMs: 1000, maxDelayMs: 300_000, crashLoopFailures: 5, crashLoopWindowMs: 600_000 },
    });
    expect(c.passEnv).toEqual(["HF_TOKEN", "HF_HOME", "HUGGINGFACE_HUB_CACHE", "LOG_LEVEL", "LD_LIBRARY_PATH"]);
  });

  it("reads TEI_FLEET_* variables when flags are absent, flags win", () => {
    const env = {
      TEI_FLEET_CONTROL_PLANE: "http://cp:9000/",
      TEI_FLEET_NODE_NAME: "env-node",
      TEI_FLEET_ADVERTISE_ADDRESS: "10.1.1.1",
      TEI_FLEET_TEI_BINARY: "/opt/tei",
      TEI_FLEET_LABELS: "zone=a, gpu=h100",
      TEI_FLEET_PASS_ENV: "FAKE_TEI_*",
      TEI_FLEET_GPUS: "4x40960",
      TEI_FLEET_STOP_INSTANCES_ON_EXIT: "false",
    };
    const c = resolveConfig({ nodeName: "flag-node" }, env);
    expect(c).toMatchObject({
      controlPlaneUrl: "http://cp:9000",
      nodeName: "flag-node",
      advertiseAddress: "10.1.1.1",
      teiBinary: "/opt/tei",
      labels: { zone: "a", gpu: "h100" },
      gpus: { count: 4, memoryMb: 40960 },
      stopInstancesOnExit: false,
    });
    expect(c.passEnv).toContain("FAKE_TEI_*");
  });

  it("names the flag and the variable of every bad value", () => {
    expect(problem({ ...required, gpus: "lots" })).toMatch(/--gpus \/ TEI_FLEET_GPUS: "lots" must look like COUNTxMIB/);
    expect(problem({ ...required, portRange: "9-1" })).toMatch(/--port-range/);
    expect(problem({ ...required, portRange: "5000-5000" })).toMatch(/at least 2 ports/);
    expect(problem({ ...required, passEnv: ["*"] })).toMatch(/--pass-env \/ TEI_FLEET_PASS_ENV: "\*"/);
    expect(problem({ ...required, label: ["novalue"] })).toMatch(/--label \/ TEI_FLEET_LABELS: "novalue" must be key=value/);
    expect(problem({ ...required, listen: "nowhere" })).toMatch(/--listen/);
    expect(problem({ ...required, stopInstancesOnExit: "yes" })).toMatch(/--stop-instances-on-exit \/ TEI_FLEET_STOP_INSTANCES_ON_EXIT: must be true or false/);
    expect(problem({ ...required, probeIntervalMs: "soon" })).toMatch(/--probe-interval-ms \/ TEI_FLEET_PROBE_INTERVAL_MS: must be a whole number/);
    expect(problem({ ...required, nodeName: "a b" })).toMatch(/--node-name/);
    expect(problem({ ...required, controlPlane: "redis://x" })).toMatch(/--control-plane/);
    // Every problem at once, not one per restart.
    expect(
      problem({ ...required, capacity: "0", listen: "nowhere" }, { TEI_FLEET_PORT_RANGE: "9-1" })
        .split("\n")
        .slice(1),
    ).toEqual([
      "  --listen / TEI_FLEET_AGENT_LISTEN: must be HOST:PORT or [IPv6]:PORT with a port from 0 to 65535, e.g. 0.0.0.0:9101 (got 'nowhere')",
      '  --port-range / TEI_FLEET_PORT_RANGE: "9-1" must be START-END with 1 <= START <= END <= 65535',
      "  --capacity / TEI_FLEET_CAPACITY: must be at least 1",
    ]);
  });

  it("takes node names as the control plane registers and pins them, and refuses the rest at start-up", () => {
    for (const nodeName of ["gpu_01", "GPU-1.rack2", "10.0.0.5"]) expect(resolveConfig({ ...required, nodeName }, {}).nodeName).toBe(nodeName);
    // A trailing '-', '.' or '_' used to pass here and then fail every registration.
    for (const nodeName of ["gpu-", "gpu.", "gpu_", "gpu:1", "n".repeat(64)]) {
      expect(problem({ ...required, nodeName })).toMatch(
        /--node-name \/ TEI_FLEET_NODE_NAME: must be 1-63 letters, digits, '\.', '_' or '-', starting and ending with a letter or digit/,
      );
    }
  });
});
