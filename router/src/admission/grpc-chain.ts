/**
 * The admission steps of the gRPC front, in order. Steps every front will share (API key, rate
 * limit, queue) go after these, in both fronts' chains.
 */
import type { AdmissionStep } from "./admission.ts";
import { grpcContentType } from "./grpc-content-type.ts";
import { metadataTarget } from "./metadata-target.ts";
import { postOnly } from "./post-only.ts";
import { servedMethod } from "./served-method.ts";

/** What makes a request a gRPC call at all: also what the router's own health check passes. */
export const GRPC_REQUEST_STEPS: readonly AdmissionStep[] = [postOnly, grpcContentType];

/** What every proxied gRPC call passes before its backend is chosen. */
export const GRPC_CALL_STEPS: readonly AdmissionStep[] = [...GRPC_REQUEST_STEPS, servedMethod, metadataTarget];
