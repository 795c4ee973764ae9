import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { appendEvent } from "./event-log.ts";
import type { KeySchema } from "./keys.ts";

/** A problem found reading an instance's stored record (see record-codec.ts). */
export type RecordProblem =
  /** The instance record cannot be decoded. */
  | { kind: "unreadable"; error: string }
  /** The instance record was read once lone surrogates in these fields became U+FFFD. */
  | { kind: "repaired"; fields: string[] }
  /** One of the instance's replica records cannot be decoded. */
  | { kind: "replica-unreadable"; id: string; error: string }
  /** An entry of the route table (`routes`) cannot be decoded; `instance` is then "". */
  | { kind: "route-unreadable"; id: string; error: string };

/** Tells about a problem record; never throws and never delays the read that found it. */
export type RecordProblemReporter = (instance: string, record: string, problem: RecordProblem) => void;

/** How long a report stands before the same record, unchanged, is reported again. */
const REPORT_EVERY_MS = 24 * 3600 * 1000;
/** Records this process remembers having reported (a bound, not a working-set estimate). */
const MEMORY = 10_000;

/**
 * Creates the reporter every reader of instance records shares. A problem record is met on every
 * read (each list, each route-table read, each reconcile), so it is reported once per record
 * content: one error (or warning, when it could be read after all) in the log and one event in
 * the fleet's stream, by whichever control-plane process claims the `record-problem` key first;
 * the record changing (a PATCH) or a day passing reports it again. Each process remembers what it
 * has seen, so reads do not pay a Redis round trip each.
 */
export function createRecordProblemReporter(redis: Redis, keys: KeySchema, logger: Logger): RecordProblemReporter {
  const seen = new Set<string>();
  return (instance, record, problem) => {
    const digest = createHash("sha256").update(record).digest("hex").slice(0, 16);
    const id = `${instance}\n${digest}`;
    if (seen.has(id)) return;
    if (seen.size >= MEMORY) seen.clear();
    seen.add(id);
    void (async () => {
      // Claimed in Redis: of all the control planes reading it, one reports it.
      const claimed = await redis.set(keys.recordProblem(instance, digest), "1", "PX", REPORT_EVERY_MS, "NX");
      if (claimed !== "OK") return;
      if (problem.kind === "unreadable") {
        logger.error(
          { instance, error: problem.error, record: record.slice(0, 500).toWellFormed() },
          "instance record cannot be decoded; listed as unreadable, its replicas left as they are",
        );
        await appendEvent(redis, keys, {
          kind: "instance.unreadable",
          instance,
          message: `the stored record cannot be decoded (${problem.error}); listed as unreadable, its replicas left as they are; DELETE /instances/${instance} removes it`,
        });
      } else if (problem.kind === "replica-unreadable") {
        logger.error(
          { instance, assignmentId: problem.id, error: problem.error, record: record.slice(0, 500).toWellFormed() },
          "replica record cannot be decoded; left out of listings",
        );
        await appendEvent(redis, keys, {
          kind: "instance.unreadable",
          instance,
          message: `the stored record of replica ${problem.id} cannot be decoded (${problem.error}); left out of listings`,
        });
      } else if (problem.kind === "route-unreadable") {
        logger.error(
          { assignmentId: problem.id, error: problem.error, record: record.slice(0, 500).toWellFormed() },
          "route table entry cannot be decoded; left out of the table",
        );
        await appendEvent(redis, keys, {
          kind: "instance.unreadable",
          message: `the route table entry of ${problem.id} cannot be decoded (${problem.error}); left out of the table`,
        });
      } else {
        const fields = problem.fields.join(", ");
        logger.warn({ instance, fields: problem.fields }, "instance record holds text that is not well-formed Unicode; read with U+FFFD in its place");
        await appendEvent(redis, keys, {
          kind: "instance.malformed",
          instance,
          message: `the stored record holds text that is not well-formed Unicode (${fields}); read with U+FFFD in its place; PATCH those fields or delete the instance`,
        });
      }
    })().catch((err: unknown) => {
      // Reporting is a notification: the read goes on, and the next process to meet it tries.
      seen.delete(id);
      logger.warn({ err, instance }, "could not report a problem instance record");
    });
  };
}
