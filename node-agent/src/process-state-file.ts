import { createHash } from "node:crypto";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { readJsonFile, writeFileAtomic } from "./atomic-file.ts";

/**
 * One file per running TEI process in the state dir, `instances/<dir>/process.json`: enough to
 * re-attach after an agent restart (pid + start time + port) and to know whether the process still
 * runs the command the assignment asks for (fingerprint).
 */

const ProcessRecordSchema = z.object({
  version: z.literal(1),
  assignmentId: z.string(),
  instanceName: z.string(),
  pid: z.number().int().positive(),
  pgid: z.number().int().positive(),
  startTime: z.string(),
  startedAtMs: z.number(),
  port: z.number().int(),
  prometheusPort: z.number().int(),
  /** Hash of TEI's argv and environment; a different one means the process must be replaced. */
  fingerprint: z.string(),
  restarts: z.number().int().nonnegative(),
});

/** The record of one running TEI process. */
export type ProcessRecord = z.infer<typeof ProcessRecordSchema>;

/**
 * The per-assignment directory (process record and logs). Assignment ids come from the control
 * plane, so they are made file-name safe, with a hash suffix keeping distinct ids distinct.
 */
export function instanceDir(stateDir: string, assignmentId: string): string {
  const safe = assignmentId.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80);
  const suffix = createHash("sha256").update(assignmentId).digest("hex").slice(0, 8);
  return join(stateDir, "instances", `${safe}-${suffix}`);
}

/**
 * Hash of a command line and environment, see {@link ProcessRecord}. PATH is left out: it says
 * where programs are, not how TEI behaves, and it differs between a shell and systemd, which
 * must not make an agent restart replace every TEI process.
 */
export function commandFingerprint(command: string, args: readonly string[], env: Record<string, string>): string {
  const sortedEnv = Object.keys(env)
    .filter((k) => k !== "PATH")
    .sort()
    .map((k) => [k, env[k]]);
  return createHash("sha256")
    .update(JSON.stringify([command, args, sortedEnv]))
    .digest("hex")
    .slice(0, 32);
}

/** Reads, writes and lists process records under one state dir. */
export interface ProcessStateStore {
  write(record: ProcessRecord): Promise<void>;
  remove(assignmentId: string): Promise<void>;
  /** Every readable record; unreadable files are reported through `onError` and skipped. */
  list(onError?: (path: string, error: Error) => void): Promise<ProcessRecord[]>;
}

/** A {@link ProcessStateStore} in `stateDir`. */
export function createProcessStateStore(stateDir: string): ProcessStateStore {
  const file = (assignmentId: string) => join(instanceDir(stateDir, assignmentId), "process.json");
  return {
    write: (record) => writeFileAtomic(file(record.assignmentId), `${JSON.stringify(record, null, 2)}\n`),
    remove: (assignmentId) => rm(file(assignmentId), { force: true }),
    async list(onError) {
      const root = join(stateDir, "instances");
      let dirs: string[];
      try {
        dirs = await readdir(root);
      } catch {
        return [];
      }
      const records: ProcessRecord[] = [];
      for (const dir of dirs) {
        const path = join(root, dir, "process.json");
        try {
          const raw = await readJsonFile(path);
          if (raw === undefined) continue;
          const parsed = ProcessRecordSchema.safeParse(raw);
          if (!parsed.success) throw new Error(z.prettifyError(parsed.error));
          records.push(parsed.data);
        } catch (error) {
          onError?.(path, error as Error);
        }
      }
      return records;
    },
  };
}
