/**
 * Wiring of a proxied call's HTTP/2 stream events. The listeners are module-level functions
 * shared by every call: each finds its call through a symbol on the stream (`this` is the
 * stream), so opening a call allocates no closures. Listeners of a backend stream that is no
 * longer the call's current attempt (after a retry) are ignored.
 */
import type { ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader, ServerHttp2Stream } from "node:http2";

const CALL = Symbol("tei-router-call");

/** What the listeners need from a call (implemented by proxy-call.ts). */
export interface CallEvents {
  readonly down: ServerHttp2Stream;
  up: ClientHttp2Stream | null;
  done: boolean;
  upError: Error | null;
  onRequestData(chunk: Buffer): void;
  onRequestEnd(): void;
  onClientClose(): void;
  onWantTrailers(): void;
  onResponse(headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void;
  onResponseData(chunk: Buffer): void;
  onTrailers(trailers: IncomingHttpHeaders): void;
  onResponseEnd(): void;
  onUpstreamClose(up: ClientHttp2Stream): void;
}

type Tagged<S> = S & { [CALL]: CallEvents };

/** Listens to the client's stream: only 'close' (and 'error', set by the server) when `early`. */
export function bindClientClose(call: CallEvents): void {
  const down = call.down as Tagged<ServerHttp2Stream>;
  down[CALL] = call;
  down.on("close", onDownClose);
}

/** Listens to the client's request body and trailers request. */
export function bindClientBody(call: CallEvents): void {
  const down = call.down;
  down.on("data", onDownData);
  down.on("end", onDownEnd);
  down.on("wantTrailers", onDownWantTrailers);
}

/** Listens to a backend stream (one per attempt). */
export function bindBackend(call: CallEvents, up: ClientHttp2Stream): void {
  (up as Tagged<ClientHttp2Stream>)[CALL] = call;
  up.on("response", onUpResponse);
  up.on("data", onUpData);
  up.on("trailers", onUpTrailers);
  up.on("end", onUpEnd);
  up.on("error", onUpError);
  up.on("close", onUpClose);
}

/** Resumes the client's request once the backend stream can take more (request backpressure). */
export function resumeClientOnDrain(up: ClientHttp2Stream): void {
  if (up.listenerCount("drain") === 0) up.on("drain", onUpDrain);
}

/** Resumes the backend's response once the client stream can take more (response backpressure). */
export function resumeBackendOnDrain(down: ServerHttp2Stream): void {
  if (down.listenerCount("drain") === 0) down.on("drain", onDownDrain);
}

function onDownData(this: Tagged<ServerHttp2Stream>, chunk: Buffer): void {
  this[CALL].onRequestData(chunk);
}
function onDownEnd(this: Tagged<ServerHttp2Stream>): void {
  this[CALL].onRequestEnd();
}
function onDownClose(this: Tagged<ServerHttp2Stream>): void {
  this[CALL].onClientClose();
}
function onDownWantTrailers(this: Tagged<ServerHttp2Stream>): void {
  this[CALL].onWantTrailers();
}
function onDownDrain(this: Tagged<ServerHttp2Stream>): void {
  // Not guarded by `up.closed`: a backend stream that has ended can still hold unread
  // responses in its buffer, and they must flow.
  const up = this[CALL].up;
  if (up !== null && !up.destroyed) up.resume();
}
function onUpDrain(this: Tagged<ClientHttp2Stream>): void {
  const call = this[CALL];
  if (call.up === this && !call.done) call.down.resume();
}
function onUpResponse(this: Tagged<ClientHttp2Stream>, headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
  const call = this[CALL];
  if (call.up === this && !call.done) call.onResponse(headers);
}
function onUpData(this: Tagged<ClientHttp2Stream>, chunk: Buffer): void {
  const call = this[CALL];
  if (call.up === this && !call.done) call.onResponseData(chunk);
}
function onUpTrailers(this: Tagged<ClientHttp2Stream>, trailers: IncomingHttpHeaders): void {
  const call = this[CALL];
  if (call.up === this && !call.done) call.onTrailers(trailers);
}
function onUpEnd(this: Tagged<ClientHttp2Stream>): void {
  const call = this[CALL];
  if (call.up === this) call.onResponseEnd();
}
function onUpError(this: Tagged<ClientHttp2Stream>, err: Error): void {
  const call = this[CALL];
  if (call.up === this) call.upError = err;
}
function onUpClose(this: Tagged<ClientHttp2Stream>): void {
  const call = this[CALL];
  if (call.up === this) call.onUpstreamClose(this);
}
