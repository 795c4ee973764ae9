import type { JsonReadOptions } from "@bufbuild/protobuf";
import { checkJsonText, decodeJsonText } from "../json/strict-json.ts";
import { toConnectError } from "./connect-errors.ts";

/**
 * Connect JSON requests (`application/json`, `application/connect+json`, gRPC-web JSON) read with
 * the same strict rules as REST bodies (json/strict-json.ts): bytes that are not UTF-8, strings
 * or keys that are not well-formed Unicode and duplicate keys are INVALID_ARGUMENT with the
 * catalogue code INVALID_JSON and the field's path as `x-error-field`.
 *
 * protobuf-es already refuses lone surrogates and duplicate keys in JSON, but in a message that
 * names a proto field of some message type, with no catalogue code; and connect-es decodes the
 * bytes with a lenient TextDecoder, so bytes that are not UTF-8 became U+FFFD. connect-es offers
 * one hook before protobuf-es sees the text: the `textDecoder` of its JSON serialization (read by
 * `createJsonSerialization` from the handler's `jsonOptions`; the only place where it sees the
 * request's bytes). An error thrown there that is a ConnectError reaches the client as it is.
 * `test/api-unicode.test.ts` fails if a connect-es upgrade stops calling it.
 *
 * Binary requests need nothing here: protobuf-es decodes proto3 strings with a fatal UTF-8
 * decoder, so a string that is not UTF-8 fails the whole parse (see malformed-request.ts), and
 * valid UTF-8 always decodes to well-formed text.
 */
export const strictJsonOptions: Partial<JsonReadOptions> & { textDecoder: { decode(input?: Uint8Array): string } } = {
  textDecoder: {
    decode(input = new Uint8Array()) {
      try {
        const text = decodeJsonText(input);
        try {
          JSON.parse(text);
        } catch {
          // Not JSON at all: protobuf-es says so in its own words, as before.
          return text;
        }
        checkJsonText(text);
        return text;
      } catch (err) {
        throw toConnectError(err);
      }
    },
  },
};
