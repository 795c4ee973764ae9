import { createHash } from "node:crypto";
import { execa } from "execa";

/** One GPU as the agent reports it (maps to tei_fleet.v1.Gpu). */
export interface GpuInfo {
  index: number;
  uuid: string;
  name: string;
  memoryTotalMb: number;
  /** Free memory in MiB; for a declared inventory this is the total (nothing measures it). */
  memoryFreeMb: number;
}

/** Where the inventory comes from: declared on the command line, or measured with nvidia-smi. */
export type GpuInventorySource =
  | { kind: "declared"; count: number; memoryMb: number }
  | { kind: "nvidia-smi"; command?: string; env?: Record<string, string | undefined> };

/** nvidia-smi's query; one CSV line per GPU, memory in MiB. */
export const NVIDIA_SMI_ARGS = ["--query-gpu=index,uuid,name,memory.total,memory.free", "--format=csv,noheader,nounits"] as const;

/**
 * Parses `--gpus NxMiB` (e.g. `2x81920`: two GPUs of 81920 MiB). Throws an error saying what is
 * wrong with the value (the config loader puts the flag's name in front).
 */
export function parseDeclaredGpus(value: string): { count: number; memoryMb: number } {
  const match = /^(\d{1,3})x(\d{1,9})$/.exec(value.trim());
  if (!match) throw new Error(`${JSON.stringify(value)} must look like COUNTxMIB, e.g. 2x81920`);
  const count = Number(match[1]);
  const memoryMb = Number(match[2]);
  if (memoryMb === 0) throw new Error(`${JSON.stringify(value)}: GPU memory must be more than 0 MiB`);
  return { count, memoryMb };
}

/**
 * A stable, UUID-shaped identifier for declared GPU `index` of `nodeName`: the same node always
 * declares the same GPUs, and two nodes never share one.
 */
export function syntheticGpuUuid(nodeName: string, index: number): string {
  const h = createHash("sha256").update(`${nodeName}/${index}`).digest("hex");
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The declared inventory of `--gpus`. */
export function declaredGpus(nodeName: string, count: number, memoryMb: number): GpuInfo[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    uuid: syntheticGpuUuid(nodeName, index),
    name: "declared",
    memoryTotalMb: memoryMb,
    memoryFreeMb: memoryMb,
  }));
}

/**
 * Parses nvidia-smi's CSV output (see {@link NVIDIA_SMI_ARGS}). Lines that do not parse are
 * reported through `onBadLine` and skipped; `[N/A]` memory becomes 0.
 */
export function parseNvidiaSmiCsv(output: string, onBadLine?: (line: string) => void): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const cells = line.split(",").map((c) => c.trim());
    // The name may itself contain commas in theory; index and uuid come first, memories last.
    if (cells.length < 5) {
      onBadLine?.(line);
      continue;
    }
    const index = Number(cells[0]);
    const uuid = cells[1] ?? "";
    const memoryFree = cells[cells.length - 1] ?? "";
    const memoryTotal = cells[cells.length - 2] ?? "";
    const name = cells.slice(2, cells.length - 2).join(",");
    if (!Number.isInteger(index) || index < 0 || !uuid.startsWith("GPU-")) {
      onBadLine?.(line);
      continue;
    }
    gpus.push({ index, uuid, name, memoryTotalMb: mib(memoryTotal), memoryFreeMb: mib(memoryFree) });
  }
  return gpus.sort((a, b) => a.index - b.index);
}

function mib(cell: string): number {
  const n = Number(cell);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0;
}

/** Result of one inventory read: the GPUs and, when nvidia-smi could not be used, why. */
export interface GpuInventoryReading {
  gpus: GpuInfo[];
  /** Set when nvidia-smi is missing or failed; the node then has zero GPUs. */
  warning?: string;
}

/**
 * Reads the GPU inventory. A missing nvidia-smi means a host without GPUs (zero GPUs, with a
 * warning), never a crash; a failing one (driver mismatch) likewise.
 */
export async function readGpuInventory(nodeName: string, source: GpuInventorySource): Promise<GpuInventoryReading> {
  if (source.kind === "declared") return { gpus: declaredGpus(nodeName, source.count, source.memoryMb) };
  const command = source.command ?? "nvidia-smi";
  const result = await execa(command, [...NVIDIA_SMI_ARGS], {
    reject: false,
    timeout: 15_000,
    env: source.env,
    extendEnv: source.env === undefined,
    stdin: "ignore",
  });
  if (result.failed) {
    const code = (result as { code?: string }).code;
    if (code === "ENOENT") return { gpus: [], warning: `${command} not found: this node has no GPUs` };
    const detail = String(result.stderr || result.stdout || result.shortMessage)
      .trim()
      .slice(0, 300);
    return { gpus: [], warning: `${command} failed (${result.exitCode ?? result.signal}): ${detail}` };
  }
  const bad: string[] = [];
  const gpus = parseNvidiaSmiCsv(result.stdout.toString(), (l) => bad.push(l));
  return bad.length > 0 ? { gpus, warning: `skipped unparsable nvidia-smi lines: ${bad.join(" | ")}` } : { gpus };
}
