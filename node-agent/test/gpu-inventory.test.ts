import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseDeclaredGpus, parseNvidiaSmiCsv, readGpuInventory, syntheticGpuUuid } from "../src/gpu-inventory.ts";
import { removeDir, tempDir } from "./helpers.ts";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await removeDir(dir);
  dir = undefined;
});

const SMI_OUTPUT = [
  "0, GPU-11111111-2222-3333-4444-555555555555, NVIDIA H100 80GB HBM3, 81559, 80100",
  "1, GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, NVIDIA H100 80GB HBM3, 81559, [N/A]",
].join("\n");

/** Writes a fake nvidia-smi that checks its arguments and prints `output`. */
async function fakeNvidiaSmi(binDir: string, output: string, exitCode = 0): Promise<void> {
  await mkdir(binDir, { recursive: true });
  const script = `#!/bin/sh
if [ "$1" != "--query-gpu=index,uuid,name,memory.total,memory.free" ] || [ "$2" != "--format=csv,noheader,nounits" ]; then
  echo "unexpected arguments: $*" >&2; exit 9
fi
cat <<'OUT'
${output}
OUT
exit ${exitCode}
`;
  await writeFile(join(binDir, "nvidia-smi"), script);
  await chmod(join(binDir, "nvidia-smi"), 0o755);
}

describe("GPU inventory", () => {
  it("reads GPUs from nvidia-smi found on PATH", async () => {
    dir = await tempDir();
    await fakeNvidiaSmi(join(dir, "bin"), SMI_OUTPUT);
    const { gpus, warning } = await readGpuInventory("n1", { kind: "nvidia-smi", env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin` } });
    expect(warning).toBeUndefined();
    expect(gpus).toEqual([
      { index: 0, uuid: "GPU-11111111-2222-3333-4444-555555555555", name: "NVIDIA H100 80GB HBM3", memoryTotalMb: 81559, memoryFreeMb: 80100 },
      { index: 1, uuid: "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", name: "NVIDIA H100 80GB HBM3", memoryTotalMb: 81559, memoryFreeMb: 0 },
    ]);
  });

  it("reports zero GPUs, with a warning, when nvidia-smi is missing or fails", async () => {
    dir = await tempDir();
    const missing = await readGpuInventory("n1", { kind: "nvidia-smi", env: { PATH: join(dir, "empty") } });
    expect(missing.gpus).toEqual([]);
    expect(missing.warning).toMatch(/not found/);
    await fakeNvidiaSmi(join(dir, "bin"), "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver", 9);
    const failing = await readGpuInventory("n1", { kind: "nvidia-smi", env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin` } });
    expect(failing.gpus).toEqual([]);
    expect(failing.warning).toMatch(/failed/);
  });

  it("skips lines it cannot parse", () => {
    const bad: string[] = [];
    expect(parseNvidiaSmiCsv("garbage\n0, GPU-x, T4, 15360, 15000\n", (l) => bad.push(l))).toHaveLength(1);
    expect(bad).toEqual(["garbage"]);
  });

  it("declares COUNTxMIB GPUs with stable synthetic UUIDs per node", async () => {
    expect(parseDeclaredGpus("2x81920")).toEqual({ count: 2, memoryMb: 81920 });
    expect(() => parseDeclaredGpus("two")).toThrow(/COUNTxMIB/);
    expect(() => parseDeclaredGpus("1x0")).toThrow(/more than 0/);
    const { gpus } = await readGpuInventory("node-a", { kind: "declared", count: 2, memoryMb: 81920 });
    expect(gpus.map((g) => g.uuid)).toEqual([syntheticGpuUuid("node-a", 0), syntheticGpuUuid("node-a", 1)]);
    expect(syntheticGpuUuid("node-a", 0)).toMatch(/^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(syntheticGpuUuid("node-a", 0)).not.toBe(syntheticGpuUuid("node-b", 0));
    expect(gpus[0]!.memoryTotalMb).toBe(81920);
  });
});
