import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { StaleEpochError } from "../src/agents/assignment-feed.ts";
import { toConnectError } from "../src/connect/connect-errors.ts";
import { ApiError } from "../src/errors/api-error.ts";
import { toApiError } from "../src/errors/to-api-error.ts";

// The scheduler's stale-epoch error is an ApiError like the nodes' errors: the one classification
// (toApiError) recognises it by type, with no step of its own in the Connect services.

describe("StaleEpochError", () => {
  it("is the catalogue's STALE_EPOCH: 409 over REST, FAILED_PRECONDITION over Connect, naming the epoch", () => {
    const err = new StaleEpochError("node-a");
    expect(err).toBeInstanceOf(ApiError);
    const api = toApiError(err);
    expect(api).toBe(err);
    expect({ code: api.code, status: api.status, field: api.field }).toEqual({ code: "STALE_EPOCH", status: 409, field: "epoch" });
    const connect = toConnectError(err);
    expect(connect.code).toBe(Code.FailedPrecondition);
    expect(connect.metadata.get("x-error-code")).toBe("STALE_EPOCH");
    expect(connect.rawMessage).toBe("node node-a is not registered with this epoch; register again");
  });
});
