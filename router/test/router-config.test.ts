import { ConfigError } from "@tei-fleet/core/service";
import { expect, test } from "vitest";
import { parseRouterArgs } from "../src/cli.ts";

const argv = (...args: string[]): string[] => ["node", "tei-router", ...args];
const problems = (run: () => unknown): string[] => {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.setting}: ${p.message}`);
    throw err;
  }
  throw new Error("expected a ConfigError");
};

test("every setting is read from its TEI_FLEET_* twin when its flag is absent", () => {
  const c = parseRouterArgs(argv(), {
    TEI_FLEET_ROUTER_LISTEN: "127.0.0.1:7001",
    TEI_FLEET_ROUTER_METRICS_LISTEN: "[::1]:7002",
    TEI_FLEET_ROUTER_ROUTES_FILE: "/etc/tei-fleet/routes.json",
    TEI_FLEET_ROUTER_MAX_MESSAGE_BYTES: "2048",
    TEI_FLEET_ROUTER_EJECT_AFTER: "3",
    TEI_FLEET_ROUTER_EJECTION_MS: "1000",
    TEI_FLEET_ROUTER_CONNECT_TIMEOUT_MS: "500",
    TEI_FLEET_ROUTER_BACKEND_KEEPALIVE_MS: "0",
    TEI_FLEET_ROUTER_MAX_CONCURRENT_STREAMS: "16",
    TEI_FLEET_LOG_LEVEL: "debug",
    TEI_FLEET_ROUTER_SHUTDOWN_GRACE_MS: "250",
  });
  expect(c).toMatchObject({
    listen: "127.0.0.1:7001",
    metricsListen: "[::1]:7002",
    routesFile: "/etc/tei-fleet/routes.json",
    maxMessageBytes: 2048,
    ejectAfterFailures: 3,
    ejectionMs: 1000,
    connectTimeoutMs: 500,
    backendKeepaliveMs: 0,
    maxConcurrentStreams: 16,
    logLevel: "debug",
    shutdownGraceMs: 250,
  });
});

test("a flag wins over its environment twin, which wins over the default", () => {
  const env = { TEI_FLEET_ROUTER_LISTEN: "127.0.0.1:7001", TEI_FLEET_CONTROL_PLANE: "http://cp:9000/", TEI_FLEET_JOIN_TOKEN: "secret-join-token" };
  const c = parseRouterArgs(argv("--listen", "127.0.0.1:7999"), env);
  expect(c.listen).toBe("127.0.0.1:7999");
  expect(c.controlPlane).toBe("http://cp:9000/");
  expect(c.joinToken).toBe("secret-join-token");
  expect(c.metricsListen).toBe("0.0.0.0:9091");
  expect(c.ejectAfterFailures).toBe(5);
});

test("a bad value is named by its flag and variable, every one at once", () => {
  expect(
    problems(() =>
      parseRouterArgs(argv("--routes-file", "r.json", "--eject-after", "0"), { TEI_FLEET_ROUTER_LISTEN: "nowhere", TEI_FLEET_ROUTER_EJECTION_MS: "1e3" }),
    ),
  ).toEqual([
    "--listen / TEI_FLEET_ROUTER_LISTEN: must be HOST:PORT or [IPv6]:PORT with a port from 0 to 65535, e.g. 0.0.0.0:9001 (got 'nowhere')",
    "--eject-after / TEI_FLEET_ROUTER_EJECT_AFTER: must be at least 1",
    "--ejection-ms / TEI_FLEET_ROUTER_EJECTION_MS: must be a whole number",
  ]);
});

test("exactly one route source is required", () => {
  expect(problems(() => parseRouterArgs(argv(), {}))).toEqual([
    "--control-plane / TEI_FLEET_CONTROL_PLANE: give exactly one route source: --control-plane URL or --routes-file FILE",
  ]);
  expect(problems(() => parseRouterArgs(argv("--routes-file", "r.json"), { TEI_FLEET_CONTROL_PLANE: "http://cp:9000" }))).toHaveLength(1);
});
