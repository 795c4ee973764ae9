import { randomBytes } from "node:crypto";
import type { Interceptor } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { pino } from "pino";
import { inject } from "vitest";
import { type ControlPlane, type ControlPlaneOptions, startControlPlane } from "../src/index.ts";

/** Tokens every API test control plane accepts. */
export const ADMIN = "test-admin-token-0123456789abcdef";
export const READ = "test-read-token-0123456789abcdef";
export const JOIN = "test-join-token-0123456789abcdef";

/** Fast scheduler timings for tests. */
export const FAST_SCHEDULER = {
  heartbeatIntervalMs: 200,
  heartbeatTtlMs: 1500,
  livenessIntervalMs: 200,
  reconcileIntervalMs: 1000,
  routeGraceMs: 200,
};

/** A fresh key prefix: every test file (or test) gets its own slice of the shared redis-server. */
/** A Connect interceptor that sends `token` as the bearer token (none when null). */
export const bearer =
  (token: string | null): Interceptor =>
  (next) =>
  (req) => {
    if (token !== null) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };

export const randomPrefix = () => `api${randomBytes(4).toString("hex")}`;

/** A REST response: status, headers and the parsed JSON body (or text). */
export interface RestResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read any JSON answer by its fields
  body: any;
}

/** A control plane started in-process for a test, with helpers. */
export interface ApiFixture {
  cp: ControlPlane;
  url: string;
  /** A separate Redis connection for assertions. */
  redis: Redis;
  /** Calls the REST API; `token` defaults to the admin token (`null`: none). */
  rest(method: string, path: string, body?: unknown, opts?: { token?: string | null; headers?: Record<string, string>; raw?: string }): Promise<RestResponse>;
  close(): Promise<void>;
}

/** Calls a REST API at `url`. */
export async function restCall(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string | null; headers?: Record<string, string>; raw?: string } = {},
): Promise<RestResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? ADMIN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined = opts.raw;
  if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
  const res = await fetch(url + path, { method, headers, body: payload });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Starts a control plane on a free port with the test tokens and a random prefix. */
export async function startApi(options: Partial<ControlPlaneOptions> = {}): Promise<ApiFixture> {
  const redisUrl = inject("redisUrl");
  const cp = await startControlPlane({
    redisUrl,
    prefix: randomPrefix(),
    host: "127.0.0.1",
    port: 0,
    adminToken: ADMIN,
    readToken: READ,
    joinToken: JOIN,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
    scheduler: FAST_SCHEDULER,
    watchBlockMs: 500,
    ...options,
  });
  const redis = new Redis(redisUrl);
  return {
    cp,
    url: cp.url,
    redis,
    rest: (method, path, body, opts) => restCall(cp.url, method, path, body, opts),
    async close() {
      await cp.close();
      redis.disconnect();
    },
  };
}

/** Every key under a prefix with its full value, for "nothing changed in Redis" assertions. */
export async function redisSnapshot(redis: Redis, prefix: string): Promise<Record<string, unknown>> {
  const keys = (await redis.keys(`${prefix}:*`)).filter((k) => !k.startsWith(`${prefix}:bull:`)).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const type = await redis.type(key);
    out[key] =
      type === "string"
        ? await redis.get(key)
        : type === "hash"
          ? await redis.hgetall(key)
          : type === "zset"
            ? await redis.zrange(key, 0, -1, "WITHSCORES")
            : type === "set"
              ? (await redis.smembers(key)).sort()
              : type === "stream"
                ? await redis.xrange(key, "-", "+")
                : type;
  }
  return out;
}

/** Polls until `check` returns a truthy value. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
