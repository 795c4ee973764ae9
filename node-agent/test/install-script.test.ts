import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { removeDir, tempDir } from "./helpers.ts";

// The install script cannot run systemd here; --destdir stages every file under a temporary root.
const INSTALL = fileURLToPath(new URL("../../deploy/agent/install.sh", import.meta.url));
const UNIT = fileURLToPath(new URL("../../deploy/agent/tei-node-agent.service", import.meta.url));
const ARGS = [
  "--control-plane",
  "http://10.0.0.1:9000",
  "--node-name",
  "gpu-01",
  "--advertise-address",
  "10.0.0.5",
  "--tei-binary",
  "/usr/local/bin/text-embeddings-router",
];

let dir: string | undefined;
afterEach(async () => {
  if (dir) await removeDir(dir);
  dir = undefined;
});

describe("deploy/agent/install.sh", () => {
  it("is valid bash", async () => {
    expect((await execa("bash", ["-n", INSTALL], { reject: false })).exitCode).toBe(0);
  });

  it("stages the agent, a 0600 env file with the join token, the wrapper and the systemd unit", async () => {
    dir = await tempDir();
    const r = await execa("bash", [INSTALL, ...ARGS, "--label", "zone=eu-1", "--label", "gpu=h100", "--gpus", "2x81920", "--destdir", dir, "--no-deps"], {
      env: { PATH: process.env.PATH, TEI_FLEET_JOIN_TOKEN: 'se"cret' },
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const envFile = join(dir, "etc/tei-fleet/agent.env");
    expect((await stat(envFile)).mode & 0o777).toBe(0o600);
    const env = await readFile(envFile, "utf8");
    expect(env).toContain('TEI_FLEET_CONTROL_PLANE="http://10.0.0.1:9000"');
    expect(env).toContain('TEI_FLEET_JOIN_TOKEN="se\\"cret"');
    expect(env).toContain('TEI_FLEET_NODE_NAME="gpu-01"');
    expect(env).toContain('TEI_FLEET_LABELS="zone=eu-1,gpu=h100"');
    expect(env).toContain('TEI_FLEET_TEI_BINARY="/usr/local/bin/text-embeddings-router"');
    expect(env).toContain('TEI_FLEET_GPUS="2x81920"');
    const wrapper = await readFile(join(dir, "usr/local/bin/tei-node-agent"), "utf8");
    expect(wrapper).toContain("/opt/tei-fleet/app/node-agent/src/main.ts");
    expect(await readFile(join(dir, "opt/tei-fleet/app/node-agent/src/main.ts"), "utf8")).toContain("tei-node-agent");
    expect(await readFile(join(dir, "etc/systemd/system/tei-node-agent.service"), "utf8")).toBe(await readFile(UNIT, "utf8"));
  });

  it("refuses to run without a join token or with a bad value, naming the problem", async () => {
    const noToken = await execa("bash", [INSTALL, ...ARGS, "--destdir", "/nonexistent", "--no-deps"], {
      env: { PATH: process.env.PATH },
      extendEnv: false,
      reject: false,
    });
    expect(noToken.exitCode).toBe(2);
    expect(noToken.stderr).toMatch(/no join token/);
    const badGpus = await execa("bash", [INSTALL, ...ARGS, "--gpus", "lots", "--destdir", "/nonexistent"], {
      env: { PATH: process.env.PATH, TEI_FLEET_JOIN_TOKEN: "t" },
      extendEnv: false,
      reject: false,
    });
    expect(badGpus.exitCode).toBe(2);
    expect(badGpus.stderr).toMatch(/--gpus must look like COUNTxMIB/);
  });

  it("has a unit that lets TEI outlive agent restarts and always restarts the agent", async () => {
    const unit = await readFile(UNIT, "utf8");
    expect(unit).toMatch(/^KillMode=process$/m);
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^EnvironmentFile=\/etc\/tei-fleet\/agent.env$/m);
  });
});
