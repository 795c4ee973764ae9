import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { upstreamKeyOf } from "@tei-fleet/core/catalog";
import type { SecretsKeyring } from "@tei-fleet/core/secrets";
import { BackendHealthSchema, BackendHealthStatus, type CatalogBackend, RemoteBackendKind } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { KeySchema } from "../store/keys.ts";
import type { BackendCatalog } from "./backend-catalog.ts";

/** Options of {@link createBackendHealth}. */
export interface BackendHealthOptions {
  redis: Redis;
  keys: KeySchema;
  backends: BackendCatalog;
  logger: Logger;
  /** Time between two probe rounds, ms; 0 turns probing off. Default 15 000. */
  intervalMs?: number;
  /** Timeout of one probe, ms. Default 3000. */
  timeoutMs?: number;
  /** Opens the sealed upstream keys the probes send. */
  secrets?: SecretsKeyring;
}

/** The periodic prober of remote backends. */
export interface BackendHealthChecker {
  start(): void;
  /** One round now, lock or not (tests, and the first round after a start). */
  probeAll(): Promise<void>;
  stop(): Promise<void>;
}

/** The probe of one backend: TEI's `GET /health`, or OpenAI's `GET /models` with the key (`key`: its plaintext, "" for none). */
export function probeRequest(entry: CatalogBackend, key: string): { url: string; path: string; headers: Record<string, string> } {
  const backend = entry.backend!;
  const path = backend.kind === RemoteBackendKind.OPENAI ? "models" : "health";
  const base = backend.url.endsWith("/") ? backend.url : `${backend.url}/`;
  const headers: Record<string, string> = {};
  if (key !== "") headers.authorization = `Bearer ${key}`;
  return { url: new URL(path, base).href, path: `GET /${path}`, headers };
}

/**
 * Health checks of remote backends, done by the control plane rather than by each router: one
 * probe per backend per interval fleet-wide (routers × backends probes would hammer an external,
 * possibly paid, API with its key), and the verdict lands in the catalog, where operators see it
 * (`GET /catalog/backends`) and routers receive it with the entry. Only changes of the verdict
 * are written, so a steady backend costs routers nothing. Routers still eject a backend that
 * fails on their own data path, as they do replicas. With several control planes, one probes
 * per round: the first to take the round's lock (SET NX PX).
 *
 * A probe's error names the request and the status or network error, never a header or the key.
 */
export function createBackendHealth(options: BackendHealthOptions): BackendHealthChecker {
  const { redis, keys, backends, logger } = options;
  const intervalMs = options.intervalMs ?? 15_000;
  const timeoutMs = options.timeoutMs ?? 3000;
  const id = randomBytes(6).toString("hex");
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;

  async function probe(entry: CatalogBackend): Promise<{ ok: boolean; error: string }> {
    const key = upstreamKeyOf(entry, options.secrets);
    // Never probed without its key: an OpenAI-compatible API would answer 401, a wrong verdict.
    if (key.problem !== undefined) return { ok: false, error: `not probed: ${key.problem}` };
    const request = probeRequest(entry, key.key);
    try {
      const res = await fetch(request.url, { headers: request.headers, signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
      await res.body?.cancel();
      return res.ok ? { ok: true, error: "" } : { ok: false, error: `${request.path} answered ${res.status}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why = e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.name);
      return { ok: false, error: `${request.path} failed: ${why}` };
    }
  }

  async function probeAll(): Promise<void> {
    const entries = await backends.allWithKeys();
    await Promise.all(
      entries.map(async (entry) => {
        const backend = entry.backend;
        if (backend === undefined || backend.enabled === false) return;
        const verdict = await probe(entry);
        const status = verdict.ok ? BackendHealthStatus.HEALTHY : BackendHealthStatus.UNHEALTHY;
        if (backend.health?.status === status && backend.health.error === verdict.error) return;
        const health = create(BackendHealthSchema, { status, sinceMs: BigInt(Date.now()), error: verdict.error });
        if (await backends.recordHealth(backend.name, health))
          logger.info({ backend: backend.name, healthy: verdict.ok, error: verdict.error }, "remote backend health changed");
      }),
    );
  }

  async function tick(): Promise<void> {
    // One control plane per round; the lock expires before the next round is due.
    const took = await redis.set(keys.catalogProbeLock(), id, "PX", Math.max(1, intervalMs - 100), "NX");
    if (took === "OK") await probeAll();
  }

  return {
    start() {
      if (intervalMs <= 0 || timer) return;
      timer = setInterval(() => {
        round ??= tick()
          .catch((err) => logger.warn({ err: (err as Error).message }, "probing remote backends failed; retrying next round"))
          .finally(() => {
            round = undefined;
          });
      }, intervalMs);
      timer.unref();
    },
    probeAll,
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await round;
    },
  };
}
