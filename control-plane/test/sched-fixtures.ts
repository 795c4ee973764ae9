import { randomBytes } from "node:crypto";
import { create, fromJsonString, type MessageInitShape, toJsonString } from "@bufbuild/protobuf";
import { InstanceSchema, InstanceSpecSchema, type Replica, ReplicaSchema } from "@tei-fleet/proto/fleet/v1";
import { Redis } from "ioredis";
import { pino } from "pino";
import { inject } from "vitest";
import { SimulatedAgent, type SimulatedNodeSpec } from "../bench/simulated-agent.ts";
import { createScheduler, type Scheduler, type SchedulerOptions } from "../src/scheduler/index.ts";
import { createKeySchema, type KeySchema } from "../src/store/keys.ts";

/** Everything a scheduler test needs, isolated under a random key prefix. */
export interface SchedFixture {
  redis: Redis;
  keys: KeySchema;
  scheduler: Scheduler;
  agents: SimulatedAgent[];
  /** Adds a simulated node and registers it. */
  addNode(spec: SimulatedNodeSpec): Promise<SimulatedAgent>;
  /** Writes an instance as the API does (record + index) and enqueues it. */
  putInstance(spec: MessageInitShape<typeof InstanceSpecSchema> & { name: string }, revision?: number): Promise<void>;
  deleteInstance(name: string): Promise<void>;
  replicas(name: string): Promise<Replica[]>;
  /** One heartbeat from every agent that is not silent. */
  beat(): Promise<void>;
  /** Heartbeats until `check` holds (or throws after `timeoutMs`). */
  until<T>(check: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** Fast timings for tests: a node is lost after 1.5 s of silence. */
export const FAST: Partial<SchedulerOptions> = {
  heartbeatIntervalMs: 200,
  heartbeatTtlMs: 1500,
  livenessIntervalMs: 200,
  reconcileIntervalMs: 1000,
  routeGraceMs: 200,
};

/** Creates a scheduler (started) on the test run's redis-server with a fresh prefix. */
export async function schedFixture(options: Partial<SchedulerOptions> = {}): Promise<SchedFixture> {
  const redis = new Redis(inject("redisUrl"), { maxRetriesPerRequest: 3 });
  const keys = createKeySchema(`t${randomBytes(4).toString("hex")}`);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const scheduler = createScheduler({ redis, keys, logger, ...FAST, ...options });
  await scheduler.start();
  const agents: SimulatedAgent[] = [];
  const fixture: SchedFixture = {
    redis,
    keys,
    scheduler,
    agents,
    async addNode(spec) {
      const agent = new SimulatedAgent(scheduler.agents, spec);
      await agent.register();
      agents.push(agent);
      return agent;
    },
    async putInstance(spec, revision = 1) {
      const instance = create(InstanceSchema, {
        spec: create(InstanceSpecSchema, { modelId: "BAAI/bge-small-en-v1.5", ...spec }),
        revision: BigInt(revision),
        createdAtMs: BigInt(Date.now()),
      });
      await redis.multi().set(keys.instance(spec.name), toJsonString(InstanceSchema, instance)).zadd(keys.instances(), Date.now(), spec.name).exec();
      await scheduler.enqueue(spec.name);
    },
    async deleteInstance(name) {
      await redis.multi().del(keys.instance(name)).zrem(keys.instances(), name).exec();
      await scheduler.enqueue(name);
    },
    async replicas(name) {
      const hash = await redis.hgetall(keys.replicas(name));
      return Object.values(hash)
        .map((json) => fromJsonString(ReplicaSchema, json))
        .sort((a, b) => a.index - b.index || a.assignmentId.localeCompare(b.assignmentId));
    },
    async beat() {
      await Promise.all(agents.map((a) => a.heartbeat()));
    },
    async until(check, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await fixture.beat();
        const result = await check();
        if (result !== undefined && result !== false) return result as never;
        if (Date.now() > deadline) throw new Error("condition not reached in time");
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await scheduler.stop();
      await redis.quit();
    },
  };
  return fixture;
}

/** The placed replicas of an instance (node set), by index. */
export async function placed(f: SchedFixture, name: string): Promise<Replica[]> {
  return (await f.replicas(name)).filter((r) => r.node !== "");
}
