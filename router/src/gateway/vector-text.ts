/**
 * Vectors from TEI's packed little-endian float32 bytes to the text of an answer: float JSON
 * (each float32 printed as the double it is, which parses back to the same float32), or base64
 * of the bytes as they are (OpenAI's `encoding_format: "base64"` is exactly those bytes, so no
 * float is decoded for it).
 */

/**
 * `[f0,f1,...]` of the float32 values in `bytes` (length a multiple of 4). The values go
 * through one plain array into JSON.stringify, whose number printing (in C++) is about three
 * times faster than printing them one by one in JavaScript (measured: 32 × 1,024 floats).
 */
export function floatsJson(bytes: Buffer): string {
  const n = bytes.length >> 2;
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) values[i] = bytes.readFloatLE(i << 2);
  return JSON.stringify(values);
}

/** The base64 text of the bytes, as OpenAI's SDKs decode it into a Float32Array. */
export function floatsBase64(bytes: Buffer): string {
  return bytes.toString("base64");
}

/** The float32 values in `bytes`, as numbers (for the few routes that compute with them). */
export function floatsOf(bytes: Buffer): Float64Array {
  const out = new Float64Array(bytes.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
