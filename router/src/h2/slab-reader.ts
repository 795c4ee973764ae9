/**
 * Reads a socket into slabs of memory that are never reused, through net's `onread` option.
 *
 * Why: with `socket.on("data")` every read pays for Node's Readable machinery (push, addChunk,
 * the 'data' emit, a `maybeReadMore` tick) and for a fresh 64 KiB allocation that is shrunk to
 * what was read. At concurrency 1 the router reads once per call on each side, so that is paid
 * per call, on the critical path. `onread` hands each read straight to a callback; the data is
 * read into the unused tail of the current slab, so the views the frame parser hands on (DATA
 * payloads forwarded uncopied, a held unary answer) stay valid after the callback returns. A
 * slab is released once no view into it is left.
 */

/**
 * Bytes per slab: what Node's own reads allocate each time. An idle connection keeps at most one
 * slab (64 KiB per backend connection); a busy one releases each slab once its views are gone.
 */
const SLAB_BYTES = 64 * 1024;
/** A tail shorter than this starts a new slab, so that one read still takes a whole DATA frame. */
const MIN_TAIL = 16 * 1024 + 9;

/** What `net.connect({ onread })` takes. */
export interface SlabReader {
  /** Where the next read goes: the unused tail of the current slab. */
  buffer: () => Buffer;
  /** Hands the bytes just read to the consumer; true: keep reading. */
  callback: (nread: number, buf: Buffer) => boolean;
}

/**
 * A reader that gives each received chunk to `onChunk`, which may keep views into it.
 * @param onChunk - called synchronously with every chunk read
 */
export function slabReader(onChunk: (chunk: Buffer) => void): SlabReader {
  let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  let used = 0;
  return {
    buffer() {
      if (SLAB_BYTES - used < MIN_TAIL) {
        slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
        used = 0;
      }
      return slab.subarray(used);
    },
    callback(nread, buf) {
      // `buf` is the tail handed out last; what was read is its first `nread` bytes.
      used += nread;
      onChunk(buf.subarray(0, nread));
      return true;
    },
  };
}
