import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type ApiFixture, JOIN, READ, randomPrefix, redisSnapshot, restCall, startApi } from "./api-fixtures.ts";

let api: ApiFixture;
const logLines: string[] = [];
beforeAll(async () => {
  // Capture every log line at the most verbose level, to check that no token ever appears.
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  api = await startApi({ logger: pino({ level: "trace" }, sink) });
  await api.rest("POST", "/instances", { name: "guarded", model_id: "m/m" });
});
afterAll(async () => {
  await api.close();
});

describe("token scopes on the REST API", () => {
  it("without a token: 401 UNAUTHENTICATED as JSON, for reads and writes", async () => {
    for (const [method, path] of [
      ["GET", "/instances"],
      ["GET", "/instances/guarded"],
      ["GET", "/health/all"],
      ["GET", "/events"],
      ["POST", "/instances"],
      ["DELETE", "/instances/guarded"],
      ["POST", "/instances/guarded/stop"],
      ["GET", "/nodes"],
    ]) {
      const res = await api.rest(method!, path!, undefined, { token: null });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.code).toBe("UNAUTHENTICATED");
    }
  });

  it("a wrong token, or a malformed authorization header, is 401", async () => {
    expect((await api.rest("GET", "/instances", undefined, { token: "not-a-real-token-at-all" })).status).toBe(401);
    const basic = await api.rest("GET", "/instances", undefined, { token: null, headers: { authorization: `Basic ${ADMIN}` } });
    expect(basic.status).toBe(401);
  });

  it("the read token may GET, and gets 403 FORBIDDEN on anything that changes the fleet", async () => {
    for (const path of ["/instances", "/instances/guarded", "/instances/guarded/health", "/health/all", "/events", "/nodes"]) {
      expect((await api.rest("GET", path, undefined, { token: READ })).status, path).toBe(200);
    }
    for (const [method, path] of [
      ["POST", "/instances"],
      ["PATCH", "/instances/guarded"],
      ["DELETE", "/instances/guarded"],
      ["POST", "/instances/guarded/stop"],
      ["POST", "/instances/guarded/restart"],
      ["POST", "/plan"],
    ]) {
      const res = await api.rest(method!, path!, { name: "x", model_id: "m/m" }, { token: READ });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.code).toBe("FORBIDDEN");
    }
    expect((await api.rest("GET", "/instances/guarded")).body.desired_state).toBe("running");
  });

  it("the join token may not use the instance API at all: 403", async () => {
    expect((await api.rest("GET", "/instances", undefined, { token: JOIN })).status).toBe(403);
    expect((await api.rest("POST", "/instances", { name: "x", model_id: "m/m" }, { token: JOIN })).status).toBe(403);
  });

  it("/health, /healthz, /readyz, /metrics, /openapi.json and the docs stay open", async () => {
    for (const path of ["/health", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs/json"]) {
      expect((await api.rest("GET", path, undefined, { token: null })).status, path).toBe(200);
    }
  });

  it("the admin token may do everything", async () => {
    expect((await api.rest("POST", "/instances", { name: "by-admin", model_id: "m/m" })).status).toBe(201);
    expect((await api.rest("DELETE", "/instances/by-admin")).status).toBe(204);
  });

  it("never writes a token to the log", async () => {
    await api.rest("GET", "/instances", undefined, { token: READ });
    await api.rest("GET", "/instances", undefined, { token: "a-wrong-token-0123456789" });
    const log = logLines.join("");
    expect(log.length).toBeGreaterThan(0);
    for (const token of [ADMIN, READ, JOIN, "a-wrong-token-0123456789"]) expect(log).not.toContain(token);
  });
});

describe("the generated admin token", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cp-token-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is generated at first start, printed once, kept in a 0600 file, stored in Redis only as its sha256", async () => {
    const prefix = randomPrefix();
    const notices: string[] = [];
    const first = await startApi({ prefix, adminToken: undefined, dataDir: join(dir, "a"), notice: (t) => notices.push(t) });
    try {
      const file = join(dir, "a", "admin-token");
      const token = readFileSync(file, "utf8").trim();
      expect(token.length).toBeGreaterThanOrEqual(40);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(notices).toHaveLength(1);
      expect(notices[0]).toContain(token);
      expect(first.cp.adminToken).toBe(token);
      expect(await first.redis.get(first.cp.keys.adminTokenHash())).toBe(createHash("sha256").update(token).digest("hex"));
      expect(JSON.stringify(await redisSnapshot(first.redis, prefix))).not.toContain(token);
      expect((await first.rest("POST", "/instances", { name: "made", model_id: "m/m" }, { token })).status).toBe(201);
      expect((await first.rest("GET", "/instances", undefined, { token: "tfa_guessed" })).status).toBe(401);

      // A second control plane on the same Redis (another data dir) accepts the same token.
      const second = await startApi({ prefix, adminToken: undefined, dataDir: join(dir, "b"), notice: (t) => notices.push(t) });
      try {
        expect(notices).toHaveLength(1);
        expect((await restCall(second.url, "GET", "/instances/made", undefined, { token })).status).toBe(200);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
    }

    // A restart with the same data dir keeps the token.
    const again = await startApi({ prefix, adminToken: undefined, dataDir: join(dir, "a"), notice: (t) => notices.push(t) });
    try {
      expect(notices).toHaveLength(1);
      const token = readFileSync(join(dir, "a", "admin-token"), "utf8").trim();
      expect((await again.rest("GET", "/instances/made", undefined, { token })).status).toBe(200);
    } finally {
      await again.close();
    }
  });

  it("TEI_FLEET_ADMIN_TOKEN replaces a generated one", async () => {
    const prefix = randomPrefix();
    const generated = await startApi({ prefix, adminToken: undefined, dataDir: join(dir, "c"), notice: () => {} });
    const old = generated.cp.adminToken!;
    await generated.close();
    const configured = await startApi({ prefix, adminToken: ADMIN });
    try {
      expect((await configured.rest("GET", "/instances", undefined, { token: ADMIN })).status).toBe(200);
      expect((await configured.rest("GET", "/instances", undefined, { token: old })).status).toBe(401);
    } finally {
      await configured.close();
    }
  });
});
