/**
 * The span exporter as the router runs it: the OTLP exporter behind a guard that keeps a
 * collector's trouble from ever reaching a request or the process. An export that fails (the
 * collector down, refusing, slow) drops its spans and is logged once at warn, with the
 * endpoint's address and the error's message only (never the exporter's headers, which may
 * carry `OTEL_EXPORTER_OTLP_HEADERS` credentials); the next failures are silent until an export
 * succeeds again (logged at info), so a collector away for an hour costs one line, not one per
 * batch. An exporter that throws is answered as a failed export.
 */
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import type { Logger } from "pino";

type ExportCallback = Parameters<SpanExporter["export"]>[1];
type ExportResult = Parameters<ExportCallback>[0];

/** ExportResultCode.SUCCESS and FAILED (@opentelemetry/core's enum, not a dependency of the router). */
const SUCCESS = 0 as ExportResult["code"];
const FAILED = 1 as ExportResult["code"];

/** An error's message, short and on one line, for the log. */
function messageOf(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/\s+/g, " ").slice(0, 300);
}

/** The exporter that logs its failures once (see the file's comment). */
export class GuardedExporter implements SpanExporter {
  private readonly inner: SpanExporter;
  private readonly log: Logger;
  private readonly endpoint: string;
  private failing = false;

  /**
   * @param inner - the exporter spans go through
   * @param endpoint - the traces URL as it may be logged (no credentials, no query)
   */
  constructor(inner: SpanExporter, log: Logger, endpoint: string) {
    this.inner = inner;
    this.log = log;
    this.endpoint = endpoint;
  }

  export(spans: ReadableSpan[], resultCallback: ExportCallback): void {
    const done = (result: ExportResult): void => {
      if (result.code === SUCCESS) this.succeeded();
      else this.failed(result.error, spans.length);
      resultCallback(result);
    };
    try {
      this.inner.export(spans, done);
    } catch (err) {
      done({ code: FAILED, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  async shutdown(): Promise<void> {
    try {
      await this.inner.shutdown();
    } catch (err) {
      this.failed(err, 0);
    }
  }

  async forceFlush(): Promise<void> {
    try {
      await this.inner.forceFlush?.();
    } catch (err) {
      this.failed(err, 0);
    }
  }

  private succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    this.log.info({ endpoint: this.endpoint }, "tracing: spans are exported to the OTLP endpoint again");
  }

  private failed(err: unknown, spans: number): void {
    if (this.failing) return;
    this.failing = true;
    this.log.warn(
      { endpoint: this.endpoint, err: messageOf(err), droppedSpans: spans },
      "tracing: spans could not be exported to the OTLP endpoint and are dropped (said once, until an export succeeds again)",
    );
  }
}
