/**
 * OpenAI token-array inputs. LangChain's Python `OpenAIEmbeddings` tokenizes with tiktoken by
 * default (`check_embedding_ctx_length=True`) and sends `cl100k_base` ids, which mean nothing to
 * the fleet's models: embedding them as the model's own ids (what TEI's HTTP server does) gives
 * garbage. They are decoded back to text with js-tiktoken (the `cl100k_base` ranks are loaded on
 * first use, about a second of CPU once) and the text is embedded. Ids that are not cl100k's are
 * refused with a message naming the client setting that stops sending them.
 */
import { GatewayError } from "./gateway-error.ts";

interface Decoder {
  decode(ids: number[]): string;
}

let decoder: Promise<Decoder> | null = null;

function load(): Promise<Decoder> {
  decoder ??= (async () => {
    const [{ Tiktoken }, ranks] = await Promise.all([import("js-tiktoken/lite"), import("js-tiktoken/ranks/cl100k_base")]);
    return new Tiktoken(ranks.default);
  })();
  return decoder;
}

/** The largest cl100k_base id (100,256 ranks, then the special tokens up to <|endofprompt|>). */
const CL100K_MAX_ID = 100_276;

/** The hint every refusal of token ids carries. */
export const TOKEN_IDS_HINT =
  "token-array inputs are read as OpenAI cl100k_base (tiktoken) ids; send text instead " +
  "(LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False); LlamaIndex/others: disable client-side tokenization)";

/** Decodes cl100k_base id lists to the texts they were made from. */
export async function decodeTiktokenIds(lists: readonly number[][], field: string): Promise<string[]> {
  let d: Decoder;
  try {
    d = await load();
  } catch {
    throw new GatewayError(400, `${field}: ${TOKEN_IDS_HINT} (the tiktoken decoder is not available on this router)`, "Validation", field);
  }
  const out: string[] = [];
  for (let i = 0; i < lists.length; i++) {
    for (const id of lists[i] as number[]) {
      if (id > CL100K_MAX_ID) throw new GatewayError(400, `${field}[${i}]: ${id} is not a cl100k_base token id; ${TOKEN_IDS_HINT}`, "Validation", field);
    }
    let s: string;
    try {
      s = d.decode(lists[i] as number[]);
    } catch {
      throw new GatewayError(400, `${field}[${i}]: not cl100k_base token ids; ${TOKEN_IDS_HINT}`, "Validation", field);
    }
    if (s.length === 0) throw new GatewayError(400, `${field}[${i}]: decodes to an empty text`, "Empty", field);
    out.push(s.isWellFormed() ? s : s.toWellFormed());
  }
  return out;
}
