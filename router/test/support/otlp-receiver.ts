/**
 * A small OTLP/HTTP trace receiver for tests: a node:http server on a free port that takes
 * `POST /v1/traces` with OTLP's JSON encoding (what @opentelemetry/exporter-trace-otlp-http
 * sends), flattens every span of every request, and answers as a collector does (200 `{}`), or
 * with a status the test sets.
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

/** OTLP's SpanKind and StatusCode numbers (opentelemetry-proto trace.proto). */
export const OTLP_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
export const OTLP_STATUS = { UNSET: 0, OK: 1, ERROR: 2 } as const;

/** One received span, attributes as plain values. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status: { code: number; message: string };
  resource: Record<string, string | number | boolean>;
  scope: string;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>` (the traces URL is this plus `/v1/traces`). */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Request headers of every export request received. */
  readonly requests: IncomingHttpHeaders[];
  /** Status answered to exports (default 200). */
  status: number;
  /** Waits until `predicate` holds of the spans received (fails after `timeoutMs`). */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpKeyValue {
  key: string;
  value: OtlpValue;
}

function plain(kvs: OtlpKeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of kvs ?? []) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
  }
  return out;
}

/** Starts a receiver on 127.0.0.1 (a port the system picks). */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: IncomingHttpHeaders[] = [];
  const state = { status: 200 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      requests.push(req.headers);
      if (state.status !== 200) {
        res.writeHead(state.status, { "content-type": "application/json" }).end('{"code":3,"message":"refused by the test"}');
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      for (const rs of body.resourceSpans ?? []) {
        const resource = plain(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? "",
              traceState: s.traceState ?? "",
              name: s.name,
              kind: s.kind,
              attributes: plain(s.attributes),
              status: { code: s.status?.code ?? 0, message: s.status?.message ?? "" },
              resource,
              scope: ss.scope?.name ?? "",
            });
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    get status() {
      return state.status;
    },
    set status(s: number) {
      state.status = s;
    },
    async waitFor(predicate, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (!predicate(spans)) {
        if (Date.now() > until) throw new Error(`spans not received in ${timeoutMs} ms; got ${spans.map((s) => s.name).join(", ")}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
