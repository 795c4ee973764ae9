/**
 * A request split for a remote TEI backend: more inputs than the backend's
 * `max_client_batch_size` go as several calls (chunks) of that size, as the gRPC path splits for
 * replicas. A few run at once (a TEI batch takes a permit per input without waiting, so chunks in
 * flight stay within the backend's `max_concurrent_requests`); answers are kept by position. The
 * first failure fails the request and cancels the other calls, as TEI fails a whole batch.
 */
import type { GatewayRequest } from "./gateway-request.ts";
import type { RemoteTarget } from "./remote-backend-target.ts";
import { callRemote, type RemoteAnswer } from "./remote-call.ts";
import { clientBatchOf, type RemoteInfo } from "./remote-tei-info.ts";

/** Chunks in flight at most per request (one backend is one endpoint, not a fleet of replicas). */
const MAX_IN_FLIGHT = 4;

/** The ranges `[from, to)` of `n` inputs in chunks of `size`. */
export function chunkRanges(n: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let from = 0; from < n; from += size) out.push([from, Math.min(n, from + size)]);
  return out;
}

/** How many chunks of `size` inputs may be in flight at once on a backend of `info`. */
function windowOf(info: RemoteInfo | null, size: number): number {
  const permits = info?.maxConcurrentRequests ?? 512;
  return Math.max(1, Math.min(MAX_IN_FLIGHT, Math.floor(permits / size)));
}

/** Notes the split on the request (log line, span, `tei_gateway_batch_*`), as the gRPC path does. */
export function noteSplit(rq: GatewayRequest, inputs: number, chunks: number): void {
  rq.inputs = inputs;
  rq.chunks = chunks;
  if (inputs > 1) rq.gw.metrics.split(rq.route.name, inputs, chunks);
}

/** POSTs `bodies` to `path` on `t` (one call each); resolves with their answers by position. */
export async function callChunks(
  rq: GatewayRequest,
  t: RemoteTarget,
  path: string,
  bodies: readonly unknown[],
  info: RemoteInfo | null,
): Promise<RemoteAnswer[]> {
  if (bodies.length === 1) return [await callRemote(rq, t, "POST", path, bodies[0])];
  const window = windowOf(info, clientBatchOf(info));
  return new Promise((resolve, reject) => {
    const out = new Array<RemoteAnswer>(bodies.length);
    const cancel = new AbortController();
    let next = 0;
    let pending = bodies.length;
    let over = false;
    const launch = (): void => {
      const i = next++;
      callRemote(rq, t, "POST", path, bodies[i], { cancel: cancel.signal }).then(
        (a) => {
          if (over) return;
          out[i] = a;
          if (--pending === 0) {
            over = true;
            resolve(out);
          } else if (next < bodies.length) launch();
        },
        (err: unknown) => {
          if (over) return;
          over = true;
          cancel.abort();
          reject(err);
        },
      );
    };
    if (bodies.length === 0) resolve(out);
    for (let k = 0; k < Math.min(window, bodies.length); k++) launch();
  });
}
