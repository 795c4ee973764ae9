import { Writable } from "node:stream";
import { pino } from "pino";
import type { ControlPlaneOptions } from "../src/index.ts";
import { type ApiFixture, startApi } from "./api-fixtures.ts";

/** A control plane whose every log line (debug and up) is kept, to grep for secrets. */
export async function startCatalogApi(options: Partial<ControlPlaneOptions> = {}): Promise<ApiFixture & { logs: string[] }> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const api = await startApi({ logger: pino({ level: "debug" }, sink), catalogProbeIntervalMs: 0, ...options });
  return Object.assign(api, { logs });
}

/** The events of kinds starting with `prefix`, oldest first. */
export async function eventsOf(api: ApiFixture, prefix: string): Promise<Array<{ kind: string; message: string }>> {
  const page = await api.rest("GET", "/events?limit=1000");
  return (page.body.events as Array<{ kind: string; message: string }>).filter((e) => e.kind.startsWith(prefix));
}
