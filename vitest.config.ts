import { defineConfig } from "vitest/config";

/**
 * One vitest project per package. Every project gets a private redis-server (started by
 * test/setup/redis.ts on a free port with a temporary directory); nothing mocks Redis.
 */
export default defineConfig({
  test: {
    globalSetup: ["./test/setup/redis.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "proto", include: ["proto/test/**/*.test.ts"] } },
      { extends: true, test: { name: "core", include: ["core/test/**/*.test.ts"] } },
      { extends: true, test: { name: "control-plane", include: ["control-plane/test/**/*.test.ts"] } },
      { extends: true, test: { name: "node-agent", include: ["node-agent/test/**/*.test.ts"] } },
      { extends: true, test: { name: "router", include: ["router/test/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "system",
          include: ["test/**/*.test.ts"],
          // Whole-system tests start many real processes; run their files one at a time on 2 cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
