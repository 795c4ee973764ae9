/**
 * The Arrow side of the multiplexer's EmbedArrow, with apache-arrow: reads the texts of a
 * request's Arrow IPC stream and writes the answer's. This module is loaded on the first
 * EmbedArrow call only (embed-arrow-call.ts imports it dynamically), so a router that never
 * serves one never loads apache-arrow.
 *
 * Shapes, as tei-manager defines them:
 * - request: an Arrow IPC *stream* whose first column holds the texts (`Utf8`; `LargeUtf8` and a
 *   dictionary of either are read too);
 *   every record batch of the stream is read, in order; a null text is a row error.
 * - response: an Arrow IPC stream of one record batch, one row per input row, columns
 *   `embeddings: FixedSizeList<Float32>[dim]` (nullable: null where the row failed) and
 *   `error: Utf8` (nullable: null where the row succeeded). Uncompressed.
 */
import {
  DataType,
  Field,
  FixedSizeList,
  Float32,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from "apache-arrow";

/** The request's texts by row (null: a null cell), or why they cannot be read. */
export type ReadTexts = { ok: true; texts: (string | null)[]; column: string } | { ok: false; problem: string };

/** Reads the first column of an Arrow IPC stream as texts. Never throws. */
export function readTexts(ipc: Uint8Array): ReadTexts {
  if (ipc.length === 0) return { ok: false, problem: "arrow_ipc is empty: send an Arrow IPC stream whose first column holds the texts (Utf8)" };
  let table: Table;
  try {
    table = tableFromIPC(ipc);
  } catch (err) {
    return { ok: false, problem: `invalid Arrow IPC: ${(err as Error).message ?? String(err)}` };
  }
  const field = table.schema.fields[0];
  if (field === undefined) return { ok: false, problem: "invalid Arrow IPC: no schema or no column (the first column must hold the texts, Utf8)" };
  const t = field.type;
  const textual =
    DataType.isUtf8(t) || DataType.isLargeUtf8(t) || (DataType.isDictionary(t) && (DataType.isUtf8(t.dictionary) || DataType.isLargeUtf8(t.dictionary)));
  if (!textual) {
    return { ok: false, problem: `the first column "${field.name}" is ${String(field.type)}, not a string array (Utf8)` };
  }
  const col = table.getChildAt(0);
  const n = table.numRows;
  const texts = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const v = col?.get(i) as string | null | undefined;
    texts[i] = v ?? null;
  }
  return { ok: true, texts, column: field.name };
}

/**
 * Writes the answer: `vectors[i]` the little-endian float32 bytes of row i, or null when the
 * row failed with `errors[i]`. `dim` is the vectors' length (0 when no row succeeded).
 */
export function writeEmbeddings(vectors: readonly (Uint8Array | null)[], errors: readonly (string | null)[], dim: number): Uint8Array {
  const n = vectors.length;
  const floats = new Float32Array(n * dim);
  const valid = new Uint8Array((n + 7) >> 3);
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = vectors[i];
    if (v === null || v === undefined) {
      nulls++;
      continue;
    }
    valid[i >> 3] = (valid[i >> 3] as number) | (1 << (i & 7));
    const f = new Float32Array(v.buffer.slice(v.byteOffset, v.byteOffset + Math.min(v.byteLength, dim * 4)));
    floats.set(f, i * dim);
  }
  const embType = new FixedSizeList(dim, new Field("item", new Float32(), false));
  const child = makeData({ type: new Float32(), length: n * dim, data: floats });
  const embeddings = makeData({ type: embType, length: n, nullCount: nulls, nullBitmap: nulls === 0 ? null : valid, child });
  const errorVec = vectorFromArray(errors as (string | null)[], new Utf8());
  const errorData = errorVec.data.length === 1 ? errorVec.data[0] : vectorFromArray([...errorVec] as (string | null)[], new Utf8()).data[0];
  const schema = new Schema([new Field("embeddings", embType, true), new Field("error", new Utf8(), true)]);
  const root = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children: [embeddings, errorData as NonNullable<typeof errorData>] });
  return tableToIPC(new Table(new RecordBatch(schema, root)), "stream");
}
