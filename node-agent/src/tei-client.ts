import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "@tei-fleet/proto/grpc/health/v1";
import { Embed, Info, type InfoResponse, ModelType, Predict, Rerank } from "@tei-fleet/proto/tei/v1";

/**
 * The agent's gRPC client for one TEI process: Info, grpc.health Check, and the tiny real requests
 * used as liveness probes. One HTTP/2 connection per process incarnation.
 */

/** TEI's model types as the fleet API spells them (ReplicaStatus.model_type). */
export type TeiModelKind = "embedding" | "classifier" | "reranker";

/** Maps TEI's Info model type to the fleet's spelling. */
export function modelKind(modelType: number): TeiModelKind {
  if (modelType === ModelType.CLASSIFIER) return "classifier";
  if (modelType === ModelType.RERANKER) return "reranker";
  return "embedding";
}

/**
 * The grpc.health service that says whether the model itself serves (tei.md §1.7). The empty name,
 * `tei.v1.Info` and `tei.v1.Tokenize` are SERVING as soon as the server runs and prove nothing.
 */
export function healthServiceFor(kind: TeiModelKind): string {
  if (kind === "classifier") return "tei.v1.Predict";
  if (kind === "reranker") return "tei.v1.Rerank";
  return "tei.v1.Embed";
}

/** A client for one TEI process. */
export interface TeiClient {
  info(timeoutMs: number): Promise<InfoResponse>;
  /** The grpc.health status name of `service` (e.g. "SERVING", "NOT_SERVING"). */
  healthStatus(service: string, timeoutMs: number): Promise<string>;
  /**
   * One tiny real request of the model's kind with a deadline; throws when it fails. SPLADE models
   * refuse Embed, so the probe switches to EmbedSparse when TEI says so (or `sparse` is set).
   */
  probe(kind: TeiModelKind, timeoutMs: number): Promise<{ dimension?: number }>;
  close(): void;
}

/** Creates a {@link TeiClient} for `host:port` (host is an IP; IPv6 is bracketed). */
export function createTeiClient(host: string, port: number, options: { sparse?: boolean } = {}): TeiClient {
  const authority = host.includes(":") ? `[${host}]` : host;
  const baseUrl = `http://${authority}:${port}`;
  const sessionManager = new Http2SessionManager(baseUrl, { idleConnectionTimeoutMs: 60_000 });
  const transport = createGrpcTransport({ baseUrl, sessionManager });
  const info = createClient(Info, transport);
  const health = createClient(Health, transport);
  const embed = createClient(Embed, transport);
  const predict = createClient(Predict, transport);
  const rerank = createClient(Rerank, transport);
  let sparse = options.sparse ?? false;

  return {
    info: (timeoutMs) => info.info({}, { timeoutMs }),
    async healthStatus(service, timeoutMs) {
      const res = await health.check({ service }, { timeoutMs });
      return servingStatusName(res.status);
    },
    async probe(kind, timeoutMs) {
      const text = "tei-fleet liveness probe";
      if (kind === "classifier") {
        await predict.predict({ inputs: text, truncate: true }, { timeoutMs });
        return {};
      }
      if (kind === "reranker") {
        await rerank.rerank({ query: text, texts: [text], truncate: true }, { timeoutMs });
        return {};
      }
      if (!sparse) {
        try {
          const res = await embed.embed({ inputs: text, truncate: true }, { timeoutMs });
          return { dimension: res.embeddings.length };
        } catch (error) {
          const e = ConnectError.from(error);
          if (e.code !== Code.FailedPrecondition || !/splade|sparse/i.test(e.rawMessage)) throw error;
          sparse = true;
        }
      }
      await embed.embedSparse({ inputs: text, truncate: true }, { timeoutMs });
      return {};
    },
    close: () => sessionManager.abort(),
  };
}

function servingStatusName(status: number): string {
  for (const [name, value] of Object.entries(HealthCheckResponse_ServingStatus)) {
    if (value === status) return name;
  }
  return `UNKNOWN(${status})`;
}

/** A short description of a failed TEI call, for status reasons and logs. */
export function describeRpcError(error: unknown): string {
  const e = ConnectError.from(error);
  return `${Code[e.code] ?? e.code}: ${e.rawMessage}`;
}
