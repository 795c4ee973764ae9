/**
 * TEI's response headers (`x-compute-type`, `x-compute-time`, `x-compute-characters`,
 * `x-compute-tokens`, `x-total-time`, `x-tokenization-time`, `x-queue-time`, `x-inference-time`)
 * of a remote TEI backend's answers, passed back to the client. One answer's go back as the
 * backend sent them; a request split into several calls answers what TEI would for the whole
 * batch, as the gRPC path does: characters and tokens summed, the tokenization, queue and
 * inference times averaged per input (TEI's own headers being per-input averages already, each
 * weighs by its inputs), the compute and total times the gateway's own since the request began.
 */

import type { IncomingHttpHeaders } from "node:http";
import { performance } from "node:perf_hooks";

/** The timing headers, in TEI's order. */
const NAMES = [
  "x-compute-type",
  "x-compute-time",
  "x-compute-characters",
  "x-compute-tokens",
  "x-total-time",
  "x-tokenization-time",
  "x-queue-time",
  "x-inference-time",
] as const;

function count(v: string | string[] | undefined): number {
  const n = Number(Array.isArray(v) ? v[0] : v);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

/** The timing headers of one request's answers from a remote TEI. */
export class RemoteTimings {
  /** Tokens the backend counted (its `x-compute-tokens`, summed): `usage`, and a key's token limit. */
  tokens = 0;
  private answers = 0;
  private items = 0;
  private chars = 0;
  /** Per-input milliseconds × inputs, summed. */
  private tokenizationMs = 0;
  private queueMs = 0;
  private inferenceMs = 0;
  private type: string | undefined;
  /** The first answer's headers as sent (what one answer passes back). */
  private first: string[] = [];

  /** Adds one answer's headers, the call having carried `items` inputs. */
  add(headers: IncomingHttpHeaders, items: number): void {
    this.answers++;
    if (this.answers === 1) {
      for (const name of NAMES) {
        const v = headers[name];
        if (typeof v === "string") this.first.push(name, v);
      }
    }
    if (headers["x-compute-tokens"] === undefined && headers["x-compute-time"] === undefined) return;
    this.items += items;
    this.chars += count(headers["x-compute-characters"]);
    this.tokens += count(headers["x-compute-tokens"]);
    this.tokenizationMs += count(headers["x-tokenization-time"]) * items;
    this.queueMs += count(headers["x-queue-time"]) * items;
    this.inferenceMs += count(headers["x-inference-time"]) * items;
    const type = headers["x-compute-type"];
    if (typeof type === "string") this.type ??= type;
  }

  /** The headers to answer with (none when the backend sent none: `/tokenize`, `/info`). */
  headers(startedAt: number): string[] {
    if (this.answers <= 1 || this.items === 0) return this.first;
    const n = this.items;
    const total = String(Math.floor(performance.now() - startedAt));
    return [
      "x-compute-type",
      this.type ?? "gpu+optimized",
      "x-compute-time",
      total,
      "x-compute-characters",
      String(this.chars),
      "x-compute-tokens",
      String(this.tokens),
      "x-total-time",
      total,
      "x-tokenization-time",
      String(Math.floor(this.tokenizationMs / n)),
      "x-queue-time",
      String(Math.floor(this.queueMs / n)),
      "x-inference-time",
      String(Math.floor(this.inferenceMs / n)),
    ];
  }
}
