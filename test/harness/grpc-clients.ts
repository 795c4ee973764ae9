import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Embed, Info, Predict, Rerank, Tokenize } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";

/** Real gRPC clients (HTTP/2, gRPC protocol) for a router or a TEI instance at `baseUrl`. */
export interface TeiClients {
  mux: Client<typeof TeiMultiplexer>;
  info: Client<typeof Info>;
  embed: Client<typeof Embed>;
  predict: Client<typeof Predict>;
  rerank: Client<typeof Rerank>;
  tokenize: Client<typeof Tokenize>;
}

/** Creates all TEI and multiplexer clients over one gRPC transport. */
export function createTeiClients(baseUrl: string): TeiClients {
  const transport = createGrpcTransport({ baseUrl });
  return {
    mux: createClient(TeiMultiplexer, transport),
    info: createClient(Info, transport),
    embed: createClient(Embed, transport),
    predict: createClient(Predict, transport),
    rerank: createClient(Rerank, transport),
    tokenize: createClient(Tokenize, transport),
  };
}

/** A multiplexer target naming an instance. */
export const byInstance = (name: string) => ({ routing: { case: "instanceName" as const, value: name } });
/** A multiplexer target naming a model (round-robin over its ready replicas). */
export const byModel = (modelId: string) => ({ routing: { case: "modelId" as const, value: modelId } });
