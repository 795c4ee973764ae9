/**
 * tei.v1.Tokenize: Tokenize, Decode and their streams. They never touch the model backend (no
 * permits, no faults), exactly like TEI, so they keep answering while inference hangs.
 * Special tokens are added or skipped only when asked: proto3 defaults are false (tei.md §1.6).
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { type DecodeRequest, type EncodeRequest, Tokenize } from "@tei-fleet/proto/tei/v1";
import { decode, encode } from "../tokenizer.ts";
import { orderedStream } from "./runtime.ts";

/** Tokenize one input. */
function tokenizeOne(req: EncodeRequest) {
  return { tokens: encode(req.inputs, req.addSpecialTokens) };
}

/** Decode one id list. */
function decodeOne(req: DecodeRequest) {
  return { text: decode(req.ids, req.skipSpecialTokens) };
}

/** Registers tei.v1.Tokenize. */
export function registerTokenize(router: ConnectRouter): void {
  router.service(Tokenize, {
    tokenize: tokenizeOne,
    tokenizeStream: (reqs) => orderedStream(reqs, async (req) => tokenizeOne(req)),
    decode: decodeOne,
    decodeStream: (reqs) => orderedStream(reqs, async (req) => decodeOne(req)),
  });
}
