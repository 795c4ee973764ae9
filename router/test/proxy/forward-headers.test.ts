import { expect, test } from "vitest";
import { backendRequestHeaders } from "../../src/proxy/forward-headers.ts";

/** Headers as the HTTP/2 layer hands them over: flat [name, value, ...]. */
const incoming = [":method", "POST", ":path", "/tei.v1.Embed/Embed", "authorization", "Bearer tfk_secret", "x-tei-model", "m", "grpc-timeout", "5S"];
const names = (headers: string[]) => headers.filter((_, i) => i % 2 === 0);

test("a caller's authorization reaches TEI when the fleet does not check keys (TEI's own --api-key)", () => {
  const out = backendRequestHeaders(incoming, "/tei.v1.Embed/Embed", "10.0.0.1:20000");
  expect(out[out.indexOf("authorization") + 1]).toBe("Bearer tfk_secret");
});

test("a fleet API key is withheld from TEI when the fleet checks keys; other metadata still goes", () => {
  const out = backendRequestHeaders(incoming, "/tei.v1.Embed/Embed", "10.0.0.1:20000", undefined, true);
  expect(names(out)).not.toContain("authorization");
  expect(out.join(" ")).not.toContain("tfk_secret");
  expect(names(out)).toEqual(expect.arrayContaining(["x-tei-model", "grpc-timeout", "te"]));
});
