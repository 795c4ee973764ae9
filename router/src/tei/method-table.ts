/**
 * Every gRPC path the router answers, and what it must do for each: where to send it, whether it
 * is unary or streaming, which field of the TEI request holds `truncation_direction` (the field
 * TEI crashes on, tei.md §1.6), and whether the request is a multiplexer wrapper to unwrap.
 *
 * The table is derived from the generated descriptors of proto/tei/v1/tei.proto and
 * proto/tei_multiplexer/v1/multiplexer.proto, so it cannot drift from the contract.
 */
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import { Embed, Info, Predict, Rerank, Tokenize } from "@tei-fleet/proto/tei/v1";
import { TeiMultiplexer } from "@tei-fleet/proto/tei_multiplexer/v1";

/** How messages flow in a call. */
export type CallKind = "unary" | "client_streaming" | "bidi_streaming";

/** What the router does with one incoming gRPC path. */
export interface MethodSpec {
  /** Dense index, used to cache per-method metric children without hashing. */
  readonly id: number;
  /** The incoming path without its leading slash, e.g. `tei.v1.Embed/Embed` (the metrics label). */
  readonly name: string;
  /** The TEI path the call is forwarded to, e.g. `/tei.v1.Embed/Embed`. */
  readonly upstreamPath: string;
  /** Unary or streaming (TEI has no server-streaming RPC). */
  readonly kind: CallKind;
  /** True for `tei_multiplexer.v1.TeiMultiplexer/*`: unwrap field 2, route by field 1. */
  readonly mux: boolean;
  /** Field number of `truncation_direction` in the TEI request, 0 when it has none. */
  readonly truncationField: number;
  /** True when the TEI request has no fields (Info): the wrapper's field 2 is not expected. */
  readonly emptyRequest: boolean;
  /** True for RerankStream: a stream with no message is refused (it crashes TEI). */
  readonly refuseEmptyStream: boolean;
  /** When set, the method is answered UNIMPLEMENTED with this message. */
  readonly unimplemented: string | undefined;
}

const TEI_SERVICES: readonly DescService[] = [Info, Embed, Predict, Rerank, Tokenize];

function truncationFieldOf(input: DescMessage): number {
  const field = input.fields.find((f) => f.name === "truncation_direction");
  return field === undefined ? 0 : field.number;
}

function kindOf(methodKind: string): CallKind {
  if (methodKind === "unary" || methodKind === "client_streaming" || methodKind === "bidi_streaming") {
    return methodKind;
  }
  // TEI has no server-streaming RPC; if one is ever added this table must learn it.
  throw new Error(`unsupported method kind ${methodKind}`);
}

/**
 * The multiplexer's Arrow methods the router does not serve (EmbedArrow is served by
 * arrow/embed-arrow-call.ts; EmbedSparseArrow is not, yet).
 */
const ARROW_MESSAGE =
  "is not supported by the TEI Fleet router (it would require decoding Arrow IPC); " + "send the texts with EmbedStream / EmbedSparseStream instead";

/** Multiplexer methods with no TEI counterpart that the router serves itself. */
const SERVED_WITHOUT_TEI = new Set(["EmbedArrow"]);

function buildTable(): Map<string, MethodSpec> {
  const table = new Map<string, MethodSpec>();
  const teiByName = new Map<string, { path: string; input: DescMessage; kind: CallKind }>();
  let id = 0;
  for (const service of TEI_SERVICES) {
    for (const method of service.methods) {
      const path = `/${service.typeName}/${method.name}`;
      const kind = kindOf(method.methodKind);
      teiByName.set(method.name, { path, input: method.input, kind });
      table.set(path, {
        id: id++,
        name: path.slice(1),
        upstreamPath: path,
        kind,
        mux: false,
        truncationField: truncationFieldOf(method.input),
        emptyRequest: method.input.fields.length === 0,
        refuseEmptyStream: kind === "client_streaming",
        unimplemented: undefined,
      });
    }
  }
  for (const method of TeiMultiplexer.methods) {
    const path = `/${TeiMultiplexer.typeName}/${method.name}`;
    const tei = teiByName.get(method.name);
    table.set(path, {
      id: id++,
      name: path.slice(1),
      upstreamPath: tei?.path ?? "",
      kind: kindOf(method.methodKind),
      mux: true,
      truncationField: tei === undefined ? 0 : truncationFieldOf(tei.input),
      emptyRequest: tei !== undefined && tei.input.fields.length === 0,
      refuseEmptyStream: true, // a mux stream's first message carries the target
      unimplemented: tei === undefined && !SERVED_WITHOUT_TEI.has(method.name) ? `${method.name} ${ARROW_MESSAGE}` : undefined,
    });
  }
  return table;
}

/** All routable paths, keyed by `:path` (with the leading slash). */
export const METHODS: ReadonlyMap<string, MethodSpec> = buildTable();

/** Number of entries in METHODS (ids are 0..METHOD_COUNT-1). */
export const METHOD_COUNT: number = METHODS.size;

/**
 * Stands for every path the router does not serve (in metrics and refusals), so metrics do not
 * grow a label per path a client made up.
 */
export const UNKNOWN_METHOD: MethodSpec = {
  id: METHOD_COUNT,
  name: "unknown",
  upstreamPath: "",
  kind: "unary",
  mux: false,
  truncationField: 0,
  emptyRequest: false,
  refuseEmptyStream: false,
  unimplemented: "unknown method",
};
