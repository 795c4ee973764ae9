import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Authenticator } from "../auth/authenticator.ts";
import type { EventTailer } from "../events/event-tailer.ts";
import type { InstanceService } from "../instances/instance-service.ts";
import type { SchedulerPort } from "../instances/scheduler-port.ts";
import type { ApiMetrics } from "../metrics/api-metrics.ts";
import type { InstanceRepository } from "../store/instance-repository.ts";
import type { KeySchema } from "../store/keys.ts";
import type { NodeReader } from "../store/node-reader.ts";

/**
 * Everything the REST and Connect surfaces use, built once per control plane and passed in (no
 * singletons): both surfaces call the same service, so their behaviour cannot drift apart.
 */
export interface ApiContext {
  redis: Redis;
  keys: KeySchema;
  logger: Logger;
  instances: InstanceService;
  repo: InstanceRepository;
  nodes: NodeReader;
  scheduler: SchedulerPort;
  auth: Authenticator;
  metrics: ApiMetrics;
  events: EventTailer;
  /** Token the control plane presents to node agents (the join token), for the log proxy. */
  agentToken?: string;
  /** Timeout of scraping a TEI Prometheus endpoint for `/info`, ms. */
  scrapeTimeoutMs: number;
  /** Timeout of the log proxy's call to an agent, ms. */
  agentTimeoutMs: number;
}
