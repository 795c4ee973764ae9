import { join } from "node:path";
import { type JsonValue, toJson } from "@bufbuild/protobuf";
import { parseAssignmentJson } from "@tei-fleet/core";
import { type Assignment, AssignmentSchema } from "@tei-fleet/proto/fleet/v1";
import { readJsonFile, writeFileAtomic } from "./atomic-file.ts";

/**
 * The node's last desired state, kept in `<state-dir>/desired.json` (static stability): when the
 * control plane or Redis is away, a restarted agent still knows what to run.
 */
export interface DesiredState {
  /** The control plane's assignments version these came with. */
  version: bigint;
  assignments: Assignment[];
  savedAtMs: number;
}

/** Loads and saves {@link DesiredState} atomically. */
export interface DesiredStateFile {
  readonly path: string;
  load(): Promise<DesiredState | undefined>;
  save(state: DesiredState): Promise<void>;
}

/** A {@link DesiredStateFile} in `stateDir`. */
export function createDesiredStateFile(stateDir: string): DesiredStateFile {
  const path = join(stateDir, "desired.json");
  return {
    path,
    async load() {
      const raw = (await readJsonFile(path)) as { version?: string; assignments?: JsonValue[]; savedAtMs?: number } | undefined;
      if (raw === undefined) return undefined;
      if (!Array.isArray(raw.assignments)) throw new Error(`${path}: "assignments" is not a list`);
      return {
        version: BigInt(raw.version ?? "0"),
        // Core's reader: a file saved by an agent from before assignments carried the spec still runs.
        assignments: raw.assignments.map((a) => parseAssignmentJson(a)),
        savedAtMs: raw.savedAtMs ?? 0,
      };
    },
    async save(state) {
      const body = {
        version: state.version.toString(),
        savedAtMs: state.savedAtMs,
        assignments: state.assignments.map((a) => toJson(AssignmentSchema, a)),
      };
      await writeFileAtomic(path, `${JSON.stringify(body, null, 2)}\n`);
    },
  };
}
