import { createHash } from "node:crypto";
import { clone, create, equals, isMessage } from "@bufbuild/protobuf";
import { isFailingStatus } from "@tei-fleet/core";
import { type Instance, InstanceSchema, type InstanceSpec, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { ApiError, type ApiErrorCode } from "../errors/api-error.ts";
import { appendEvent, type EventKind } from "../store/event-log.ts";
import { isUnreadable } from "../store/instance-record.ts";
import type { InstanceRepository, StoredInstance } from "../store/instance-repository.ts";
import type { KeySchema } from "../store/keys.ts";
import {
  applySpecFields,
  checkSpecConsistency,
  parseCreateBody,
  parseCreateSpec,
  parseUpdateBody,
  parseUpdateSpec,
  specToJson,
  validateInstanceName,
} from "./instance-spec.ts";
import { aggregateStatus } from "./instance-status.ts";
import type { SchedulerPort } from "./scheduler-port.ts";

/** Hooks the service calls so that process metrics follow API actions. */
export interface InstanceServiceHooks {
  created?(name: string, modelId: string): void;
  deleted?(name: string): void;
}

/** Options of {@link createInstanceService}. */
export interface InstanceServiceOptions {
  redis: Redis;
  keys: KeySchema;
  repo: InstanceRepository;
  scheduler: SchedulerPort;
  logger: Logger;
  /** Most instances the fleet holds. Default 1000. */
  maxInstances?: number;
  /** How long an Idempotency-Key is remembered, ms. Default 24 h. */
  idempotencyTtlMs?: number;
  hooks?: InstanceServiceHooks;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

/** Options of writes that carry a revision precondition (If-Match / expected_revision). */
export interface WriteOptions {
  expectedRevision?: bigint;
}

/** Result of a create: the instance, and whether it was a replay of an earlier create. */
export interface CreateResult {
  stored: StoredInstance;
  replayed: boolean;
}

/**
 * The instance lifecycle, shared by the REST API and the Connect InstanceService so that both
 * validate, fail and record events identically. It writes desired state (the spec and its
 * revision) and asks the scheduler to reconcile; it never writes observed state. A spec comes as
 * REST JSON or as Connect's InstanceSpec message; each is validated as it came, by the same rules
 * (@tei-fleet/core), never converted into the other first.
 */
export interface InstanceService {
  /** `body`: a `POST /instances` JSON body, or an InstanceSpec message. */
  create(body: unknown, opts?: { idempotencyKey?: string }): Promise<CreateResult>;
  get(name: string): Promise<StoredInstance>;
  list(): Promise<StoredInstance[]>;
  /** `body`: a `PATCH` JSON body, or an InstanceSpec message whose unset fields keep their value. */
  update(name: string, body: unknown, opts?: WriteOptions): Promise<StoredInstance>;
  delete(name: string, opts?: WriteOptions): Promise<void>;
  start(name: string, opts?: WriteOptions): Promise<StoredInstance>;
  stop(name: string, opts?: WriteOptions): Promise<StoredInstance>;
  restart(name: string): Promise<StoredInstance>;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const MAX_CAS_ATTEMPTS = 5;

/** The fingerprint of a validated spec: equal specs, equal fingerprints, whatever the key order. */
export function specFingerprint(spec: InstanceSpec): string {
  const json = specToJson(spec);
  if (json.node_selector) json.node_selector = Object.fromEntries(Object.entries(json.node_selector).sort());
  return createHash("sha256").update(JSON.stringify(json)).digest("hex");
}

/** Creates the service. */
export function createInstanceService(options: InstanceServiceOptions): InstanceService {
  const { redis, keys, repo, scheduler, logger, hooks = {} } = options;
  const maxInstances = options.maxInstances ?? 1000;
  const ttlMs = options.idempotencyTtlMs ?? 24 * 3600 * 1000;
  const now = options.now ?? Date.now;

  const event = async (kind: EventKind, instance: string, message: string) => {
    try {
      await appendEvent(redis, keys, { kind, instance, message });
    } catch (err) {
      // The change itself is committed; an event is a notification, never the source of truth.
      logger.warn({ err, kind, instance }, "could not append event");
    }
  };
  const enqueue = async (name: string) => {
    try {
      await scheduler.enqueue(name);
    } catch (err) {
      // The scheduler's periodic resync picks the instance up anyway (level-triggered).
      logger.warn({ err, instance: name }, "could not enqueue reconcile; the resync will pick it up");
    }
  };

  // A name that could never have been created cannot exist: 404, as tei-manager answers.
  const notFound = (name: string) => new ApiError("INSTANCE_NOT_FOUND", `instance '${name.slice(0, 80)}' not found`);
  const assertLookupName = (name: string) => {
    try {
      validateInstanceName(name);
    } catch {
      throw notFound(name);
    }
  };
  /**
   * What can be acted on: an instance whose record cannot be decoded can only be listed and
   * deleted (without If-Match, which has no revision to compare with).
   */
  const readable = (stored: StoredInstance): StoredInstance => {
    if (!isUnreadable(stored.instance)) return stored;
    const name = stored.instance.spec?.name ?? "";
    throw new ApiError("RECORD_UNREADABLE", `instance '${name}' cannot be read: ${stored.instance.reason}`, { field: "name" });
  };
  const mustGet = async (name: string): Promise<StoredInstance> => {
    assertLookupName(name);
    const found = await repo.get(name);
    if (!found) throw new ApiError("INSTANCE_NOT_FOUND", `instance '${name}' not found`);
    return readable(found);
  };

  const checkWithScheduler = async (spec: InstanceSpec) => {
    const check = await scheduler.checkSpec(spec);
    if (check.ok) return;
    const code: ApiErrorCode =
      check.field === "gpu_id" ? "INVALID_GPU_ID" : check.field === "port" || check.field === "prometheus_port" ? "PORT_CONFLICT" : "VALIDATION_ERROR";
    throw new ApiError(code, check.reason, { field: check.field });
  };

  const stale = (name: string, current: bigint, expected: bigint) =>
    new ApiError("REVISION_MISMATCH", `instance '${name}' is at revision ${current}, not ${expected}; read it again and retry`, { field: "revision" });

  /**
   * Read-modify-write with optimistic concurrency: re-reads and retries when another writer got
   * in between, unless the caller pinned a revision, which then fails with 409.
   */
  const mutate = async (
    name: string,
    opts: WriteOptions,
    change: (spec: InstanceSpec, stored: StoredInstance) => Promise<InstanceSpec | undefined>,
  ): Promise<{ stored: StoredInstance; changed: boolean }> => {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const stored = await mustGet(name);
      const { instance } = stored;
      if (opts.expectedRevision !== undefined && instance.revision !== opts.expectedRevision) {
        throw stale(name, instance.revision, opts.expectedRevision);
      }
      const current = instance.spec ?? create(InstanceSpecSchema, { name });
      const next = await change(current, stored);
      if (next === undefined || equals(InstanceSpecSchema, next, current)) return { stored, changed: false };
      const updated: Instance = clone(InstanceSchema, instance);
      updated.spec = next;
      updated.revision = instance.revision + 1n;
      updated.replicas = [];
      const outcome = await repo.replace(updated, instance.revision);
      if (outcome.kind === "ok") return { stored: { instance: updated, replicas: stored.replicas }, changed: true };
      if (outcome.kind === "not_found") throw new ApiError("INSTANCE_NOT_FOUND", `instance '${name}' not found`);
      if (opts.expectedRevision !== undefined) throw stale(name, outcome.revision, opts.expectedRevision);
    }
    throw new ApiError("REVISION_MISMATCH", `instance '${name}' kept changing under concurrent updates; retry`, { field: "revision" });
  };

  const setDesired = async (name: string, desired: "running" | "stopped", opts: WriteOptions) => {
    const result = await mutate(name, opts, async (spec) => {
      if ((spec.desiredState ?? "running") === desired) return undefined;
      const next = clone(InstanceSpecSchema, spec);
      next.desiredState = desired;
      return next;
    });
    if (result.changed) {
      await event(
        desired === "running" ? "instance.started" : "instance.stopped",
        name,
        `${desired === "running" ? "start" : "stop"} requested (revision ${result.stored.instance.revision})`,
      );
      await enqueue(name);
    }
    return result;
  };

  const replay = async (record: { name: string; fingerprint: string }, fingerprint: string): Promise<CreateResult> => {
    if (record.fingerprint !== fingerprint) {
      throw new ApiError(
        "IDEMPOTENCY_KEY_MISMATCH",
        `this Idempotency-Key was already used for a different create (instance '${record.name}'); use a new key`,
        { field: "Idempotency-Key" },
      );
    }
    const stored = await repo.get(record.name);
    if (!stored) throw new ApiError("INSTANCE_NOT_FOUND", `instance '${record.name}' created with this Idempotency-Key has since been deleted`);
    return { stored: readable(stored), replayed: true };
  };

  return {
    async create(body, opts = {}) {
      const spec = isMessage(body, InstanceSpecSchema) ? parseCreateSpec(body) : parseCreateBody(body);
      const name = spec.name;
      const fingerprint = specFingerprint(spec);
      const key = opts.idempotencyKey;
      if (key !== undefined) {
        if (!IDEMPOTENCY_KEY.test(key)) {
          throw new ApiError("VALIDATION_ERROR", "Idempotency-Key must be 1 to 255 visible ASCII characters", { field: "Idempotency-Key" });
        }
        // A retry must succeed even when the spec's port is now taken by the instance it created.
        const record = await repo.getIdempotency(key);
        if (record) return replay(record, fingerprint);
      }
      if (await repo.get(name)) throw new ApiError("INSTANCE_EXISTS", `instance '${name}' already exists`, { field: "name" });
      const count = await repo.count();
      if (count >= maxInstances) {
        throw new ApiError("MAX_INSTANCES_REACHED", `the fleet holds its maximum of ${maxInstances} instances`);
      }
      await checkWithScheduler(spec);
      const instance = create(InstanceSchema, { spec, revision: 1n, createdAtMs: BigInt(now()) });
      const outcome = await repo.create(instance, {
        maxInstances,
        idempotency: key === undefined ? undefined : { key, record: { name, fingerprint }, ttlMs },
      });
      if (outcome.kind === "exists") throw new ApiError("INSTANCE_EXISTS", `instance '${name}' already exists`, { field: "name" });
      if (outcome.kind === "max") throw new ApiError("MAX_INSTANCES_REACHED", `the fleet holds its maximum of ${maxInstances} instances`);
      if (outcome.kind === "replay") return replay(outcome.record, fingerprint);
      hooks.created?.(name, spec.modelId);
      await event("instance.created", name, `created: model ${spec.modelId}, revision 1`);
      await enqueue(name);
      return { stored: { instance, replicas: [] }, replayed: false };
    },

    get: mustGet,
    list: () => repo.list(),

    async update(name, body, opts = {}) {
      const input = isMessage(body, InstanceSpecSchema) ? parseUpdateSpec(body, name) : parseUpdateBody(body, name);
      const result = await mutate(name, opts, async (spec) => {
        const next = applySpecFields(spec, input);
        checkSpecConsistency(next);
        if (!equals(InstanceSpecSchema, next, spec)) await checkWithScheduler(next);
        return next;
      });
      if (result.changed) {
        const fields = Object.keys(input)
          .filter((k) => k !== "name")
          .join(", ");
        await event("instance.updated", name, `spec changed (${fields}); revision ${result.stored.instance.revision}`);
        await enqueue(name);
      }
      return result.stored;
    },

    async delete(name, opts = {}) {
      assertLookupName(name);
      const outcome = await repo.delete(name, opts.expectedRevision);
      if (outcome.kind === "not_found") throw new ApiError("INSTANCE_NOT_FOUND", `instance '${name}' not found`);
      if (outcome.kind === "conflict") throw stale(name, outcome.revision, opts.expectedRevision ?? 0n);
      hooks.deleted?.(name);
      await event("instance.deleted", name, `deleted at revision ${outcome.revision ?? "?"}`);
      await enqueue(name);
    },

    async start(name, opts = {}) {
      const { stored, changed } = await setDesired(name, "running", opts);
      if (!changed) {
        // Already meant to run: a failed or crash-looping instance gets a fresh start, as
        // tei-manager's start spawned a new process.
        const { status } = aggregateStatus(stored.instance, stored.replicas);
        if (isFailingStatus(status)) {
          await scheduler.restart(name);
          await event("instance.restarted", name, `start requested while ${status}: restarting`);
        }
      }
      return stored;
    },

    async stop(name, opts = {}) {
      return (await setDesired(name, "stopped", opts)).stored;
    },

    async restart(name) {
      const stored = await mustGet(name);
      // tei-manager's restart of a stopped instance starts it; keep that.
      if ((stored.instance.spec?.desiredState ?? "running") === "stopped") return (await setDesired(name, "running", {})).stored;
      await scheduler.restart(name);
      await event("instance.restarted", name, "restart requested");
      return stored;
    },
  };
}
