import type { TestProject } from "vitest/node";
import { startRedisServer } from "../harness/redis-server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the redis-server started for this test run. */
    redisUrl: string;
  }
}

/**
 * vitest globalSetup: one real redis-server per run, on a free port with a temporary directory.
 * Tests isolate their keys with a per-test prefix (see harness/redis-server.ts); tests that must
 * stop or kill Redis start their own with startRedisServer().
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedisServer();
  project.provide("redisUrl", redis.url);
  return () => redis.stop();
}
