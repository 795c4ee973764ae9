/**
 * A TEI stand-in for tracing tests: a small connect-node server (Info and Embed) that records the
 * trace metadata (`traceparent`, `tracestate`) of every Embed call it receives. Embed answers a
 * fixed vector; the input "fail" is refused as invalid, and `unavailable` makes every Embed
 * answer UNAVAILABLE.
 */
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { Embed, Info, ModelType } from "@tei-fleet/proto/tei/v1";
import { startConnectH2Server } from "./connect-h2-server.ts";

/** The model the stand-in says it serves. */
export const RECORDING_TEI_MODEL = "BAAI/bge-small-en-v1.5";
/** Its max_client_batch_size: 6 inputs split into 3 chunks. */
export const RECORDING_TEI_CLIENT_BATCH = 2;

/** One Embed call as the stand-in received it. */
export interface ReceivedCall {
  input: string;
  traceparent: string | null;
  tracestate: string | null;
}

export interface RecordingTei {
  readonly address: string;
  readonly port: number;
  readonly calls: ReceivedCall[];
  infoCalls: number;
  /** Every Embed answers UNAVAILABLE. */
  unavailable: boolean;
  close(): Promise<void>;
}

/** A TEI stand-in (Info and Embed) recording the trace metadata of every call; "fail" is refused as invalid. */
export async function startRecordingTei(): Promise<RecordingTei> {
  const calls: ReceivedCall[] = [];
  const state = { infoCalls: 0, unavailable: false };
  const routes = (router: ConnectRouter): void => {
    router.service(Info, {
      info() {
        state.infoCalls++;
        return {
          version: "1.9.3",
          modelId: RECORDING_TEI_MODEL,
          modelType: ModelType.EMBEDDING,
          maxConcurrentRequests: 512,
          maxInputLength: 512,
          maxClientBatchSize: RECORDING_TEI_CLIENT_BATCH,
        };
      },
    });
    router.service(Embed, {
      embed(r, ctx) {
        calls.push({ input: r.inputs, traceparent: ctx.requestHeader.get("traceparent"), tracestate: ctx.requestHeader.get("tracestate") });
        if (state.unavailable) throw new ConnectError("Model is not healthy", Code.Unavailable);
        if (r.inputs === "fail") throw new ConnectError("Input validation error: refused by the test", Code.InvalidArgument);
        return {
          embeddings: [0.5, -0.5, 0.25, 1],
          metadata: { computeChars: r.inputs.length, computeTokens: 2, totalTimeNs: 1000n, tokenizationTimeNs: 1n, queueTimeNs: 2n, inferenceTimeNs: 3n },
        };
      },
    });
  };
  const server = await startConnectH2Server(routes);
  return {
    address: server.address,
    port: server.port,
    calls,
    get infoCalls() {
      return state.infoCalls;
    },
    get unavailable() {
      return state.unavailable;
    },
    set unavailable(v: boolean) {
      state.unavailable = v;
    },
    close: () => server.close(),
  };
}
