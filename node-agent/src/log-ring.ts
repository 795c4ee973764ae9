/**
 * A bounded in-memory buffer of one instance's recent log lines, and TEI's JSON log line parser.
 * TEI (with `--json-output`) writes one JSON object per line; fatal start-up errors and panics are
 * plain text, so every line is kept raw and parsed when it parses.
 */

/** One log line. */
export interface LogLine {
  /** The line as TEI wrote it (without the newline). */
  raw: string;
  /** Position of the line in the instance's output, in bytes counted across log rotations. */
  offset: number;
  /** When the agent read it. */
  readAtMs: number;
  /** Fields of a TEI JSON line. */
  timestamp?: string;
  level?: string;
  message?: string;
  target?: string;
}

/** Parses a TEI JSON log line; plain-text lines yield an empty object. */
export function parseTeiLogLine(raw: string): Pick<LogLine, "timestamp" | "level" | "message" | "target"> {
  if (!raw.startsWith("{")) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return {};
  }
  if (typeof value !== "object" || value === null) return {};
  const o = value as Record<string, unknown>;
  const fields = (typeof o.fields === "object" && o.fields !== null ? o.fields : {}) as Record<string, unknown>;
  // tracing-subscriber puts the message at the top level or under "fields" depending on version.
  const message = str(o.message) ?? str(fields.message);
  return { timestamp: str(o.timestamp), level: str(o.level), message, target: str(o.target) };
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** A fixed-capacity ring of {@link LogLine}s; the oldest line is dropped first. */
export class LogRing {
  readonly capacity: number;
  #lines: LogLine[] = [];
  #start = 0;
  #total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`log ring capacity ${capacity} must be >= 1`);
    this.capacity = capacity;
  }

  /** Lines ever pushed (including dropped ones). */
  get total(): number {
    return this.#total;
  }

  /** Lines currently held. */
  get size(): number {
    return this.#lines.length;
  }

  push(line: LogLine): void {
    this.#total += 1;
    if (this.#lines.length < this.capacity) {
      this.#lines.push(line);
      return;
    }
    this.#lines[this.#start] = line;
    this.#start = (this.#start + 1) % this.capacity;
  }

  /** Every held line, oldest first. */
  toArray(): LogLine[] {
    return [...this.#lines.slice(this.#start), ...this.#lines.slice(0, this.#start)];
  }

  /** The last `n` lines, oldest first. */
  tail(n: number): LogLine[] {
    if (n <= 0) return [];
    const all = this.toArray();
    return all.slice(Math.max(0, all.length - n));
  }
}
