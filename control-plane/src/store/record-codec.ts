import { type DescMessage, fromJson, fromJsonString, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { toWellFormedValue } from "../json/well-formed.ts";

/** What reading one stored record gave. */
export type RecordDecoding<T> =
  /** Decoded as written. */
  | { kind: "ok"; message: T }
  /**
   * Decoded once lone surrogates were replaced with U+FFFD: older control planes stored such
   * strings (the API took `"\ud800"` as JSON), which protobuf-es refuses to decode.
   */
  | { kind: "repaired"; message: T; fields: string[] }
  /** Cannot be decoded at all; `json` is the record's JSON value when it is JSON at all. */
  | { kind: "unreadable"; error: string; json?: unknown };

const OPTIONS = { ignoreUnknownFields: true } as const;

/**
 * Reads a record stored as proto JSON, as tolerantly as its content allows: fields a newer
 * control plane added are ignored, duplicate keys (last one wins, as JSON.parse reads them) and
 * lone surrogates are accepted, the latter reported as repaired. Strictness belongs to the API's
 * boundary, where a request can still be refused; a record already stored must stay readable
 * wherever it can be read at all, or it takes every listing that meets it down.
 */
export function decodeRecord<Desc extends DescMessage>(schema: Desc, text: string): RecordDecoding<MessageShape<Desc>> {
  try {
    return { kind: "ok", message: fromJsonString(schema, text, OPTIONS) };
  } catch (strict) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return { kind: "unreadable", error: `not JSON: ${describe(err)}` };
    }
    const fields: string[] = [];
    const repaired = toWellFormedValue(json, fields);
    try {
      const message = fromJson(schema, repaired as JsonValue, OPTIONS);
      return fields.length > 0 ? { kind: "repaired", message, fields } : { kind: "ok", message };
    } catch (err) {
      return { kind: "unreadable", error: describe(fields.length > 0 ? err : strict), json };
    }
  }
}

/** An error's message, well-formed and short enough for a status reason. */
function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.toWellFormed().slice(0, 200);
}
