/**
 * The admission chain: the steps every call passes after its front (the HTTP/2 server today, the
 * HTTP gateway next) hands it over and before a backend is chosen. Each step looks at the call,
 * may note something on it (its target), and lets it on, refuses it with a gRPC status, or
 * decides later (a queue that waits for a slot). The chain is a list, so a new concern (API
 * keys, rate limits, queues) is a new step in its own file, not a branch in a handler; the
 * fronts run it, and the proxy never needs to know what it holds.
 *
 * The sync path stays synchronous and allocates nothing: a step that lets a call on returns
 * undefined, and only a step that has to wait returns a Promise.
 */
import { performance } from "node:perf_hooks";
import type { RouterError } from "../grpc/grpc-status.ts";
import type { MethodSpec } from "../tei/method-table.ts";
import type { Target } from "../tei/target.ts";
import type { ApiKeyView } from "./api-key-view.ts";

/** A call as the admission steps see it, whichever front it came through. */
export interface AdmissionCall {
  /** The request path as received, e.g. `/tei.v1.Embed/Embed`. */
  readonly path: string;
  /**
   * The request's header list, flat [name, value, ...], names lowercase (HTTP/2 pseudo-headers
   * included for gRPC calls: `:method`, `:path`, ...). Forwarded to the backend, pseudo-headers aside.
   */
  readonly headers: readonly string[];
  /** The method the path names; undefined for a path the router does not serve. */
  readonly method: MethodSpec | undefined;
  /** When the call arrived (performance.now() ms): its duration and deadline count from here. */
  readonly startedAt: number;
  /**
   * Where the call goes, once known: set by the step that reads it from metadata
   * (`x-tei-instance`, `x-tei-model`, `x-tei-index`); stays null for multiplexer calls, whose
   * first message names it (the proxy reads it there and sets it).
   */
  target: Target | null;
  /** The API key the call presented, once api-key-check.ts found it; null: anonymous (keys not required). */
  key: ApiKeyView | null;
  /**
   * Milliseconds the call waited in the fleet's queue before it was admitted (0: it went straight
   * on), set by fair-queue.ts; -1 when no queue step ran. Answers carry it as `x-fleet-queue-time`.
   */
  queueMs: number;
  /**
   * TEI's token count of the answer (`x-compute-tokens`), set by the backend attempt when a step
   * asked for it by setting 0 (a key with a tokens-per-minute limit); -1: not counted.
   */
  computeTokens: number;
  /**
   * The inputs the call embeds, for usage (usage-meter.ts): 1 for a gRPC call (TEI's messages
   * carry one input each); an HTTP gateway request sets how many its body holds (a batch of 32
   * is 32 inputs, as OpenAI and LiteLLM count them).
   */
  inputs: number;
  /** What runs once when the call ends (see {@link onCallEnd}, {@link endCall}); null: nothing. */
  onEnd: CallEndHook | null;
  /**
   * Set by a step while the call waits in it (fair-queue.ts): takes the call out of the wait when
   * its client leaves (see {@link abandonCall}), so a queue does not keep a place for nobody.
   */
  abandon: (() => void) | null;
}

/**
 * What a step has run at the end of a call, with its gRPC status and the call itself (so one
 * function can serve every call, with nothing allocated per call).
 */
export type CallEndHook = (code: number, call: AdmissionCall) => void;

/**
 * A step's decision: undefined lets the call on to the next step; a RouterError refuses it with
 * that status (and HTTP status); a Promise decides later, with one of those two, and the call
 * waits meanwhile (its request bytes are held, and flow control stops the client).
 */
export type Admission = RouterError | undefined | Promise<RouterError | undefined>;

/** One step of the chain. Must not throw: a refusal is returned. */
export type AdmissionStep = (call: AdmissionCall) => Admission;

/** A call as it enters the chain (no target yet, nothing to run at its end). */
export function admissionCall(path: string, headers: readonly string[], method: MethodSpec | undefined): AdmissionCall {
  return {
    path,
    headers,
    method,
    startedAt: performance.now(),
    target: null,
    key: null,
    queueMs: -1,
    computeTokens: -1,
    inputs: 1,
    onEnd: null,
    abandon: null,
  };
}

/**
 * Runs `steps` in order on `call`, from step `from`: undefined when every step let the call on,
 * the first refusal otherwise. Synchronous until a step returns a Promise; from there on the
 * result is a Promise of the same, and the remaining steps run once it settles.
 */
export function runAdmission(steps: readonly AdmissionStep[], call: AdmissionCall, from = 0): Admission {
  for (let i = from; i < steps.length; i++) {
    const decision = (steps[i] as AdmissionStep)(call);
    if (decision === undefined) continue;
    if (decision instanceof Promise) return decision.then((d) => d ?? runAdmission(steps, call, i + 1));
    return decision;
  }
  return undefined;
}

/**
 * Has `fn` run once when the call ends, however it ends (answered, refused by a later step,
 * cancelled), after what was registered before it: how a step that holds something for the
 * call's length (a queue slot, a concurrency permit) gives it back. The gRPC status of the end is
 * passed along.
 */
export function onCallEnd(call: AdmissionCall, fn: CallEndHook): void {
  const before = call.onEnd;
  call.onEnd =
    before === null
      ? fn
      : (code, c) => {
          before(code, c);
          fn(code, c);
        };
}

/** Ends a call for the steps: runs what they registered, once. Called by whoever ends the call. */
export function endCall(call: AdmissionCall, code: number): void {
  const fn = call.onEnd;
  if (fn === null) return;
  call.onEnd = null;
  fn(code, call);
}

/**
 * The client of a waiting call left: the step it waits in lets it go now (its decision then
 * settles, a refusal nobody reads). Called by the front that sees the client leave.
 */
export function abandonCall(call: AdmissionCall): void {
  const fn = call.abandon;
  if (fn === null) return;
  call.abandon = null;
  fn();
}
