import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalFleet, startLocalFleet, waitFor } from "../harness/index.ts";

const MODEL = "BAAI/bge-small-en-v1.5";

/**
 * The pid of the fake TEI listening on `host` at one of the recorded ports: both agents' replicas
 * may use the same port (on different addresses), so the record file names only the port.
 */
function teiPid(host: string, records: string): number {
  const ports = new Set(readdirSync(records).map((f) => f.replace(/\.json$/, "")));
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!argv.some((a) => a.endsWith("text-embeddings-router"))) continue;
    const at = (flag: string) => argv[argv.indexOf(flag) + 1];
    if (at("--hostname") === host && ports.has(at("--port") ?? "")) return Number(entry);
  }
  throw new Error(`no fake TEI on ${host}`);
}

describe("the HTTP gateway across a fleet: a TEI replica killed under traffic fails no request", () => {
  let fleet: LocalFleet;
  let records: string;
  let http: string;

  beforeAll(async () => {
    records = mkdtempSync(join(tmpdir(), "tei-fleet-gw-records-"));
    fleet = await startLocalFleet({ agents: 2, gateway: true, agentEnv: { FAKE_TEI_RECORD_FILE: join(records, "{port}.json") } });
    http = fleet.routers[0]?.httpUrl as string;
    expect((await fleet.api("POST", "/instances", { name: "small", model_id: MODEL, replicas: 2, placement_policy: "spread" })).status).toBe(201);
    await waitFor(
      "both replicas serving through the gateway",
      async () => {
        const res = await fetch(`${http}/embed`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ inputs: Array.from({ length: 8 }, (_, i) => `w${i}`) }),
        });
        return res.status === 200 && res.headers.get("x-tei-node")?.split(", ").length === 2;
      },
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
    rmSync(records, { recursive: true, force: true });
  }, 60_000);

  it("kill -9 of one replica while four SDK clients (retries off) embed: zero failed requests, and the fleet keeps serving", async () => {
    const client = new OpenAI({ baseURL: `${http}/v1`, apiKey: "x", maxRetries: 0 });
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const worker = async (w: number) => {
      for (let n = 0; running; n++) {
        try {
          const r = await client.embeddings.create({ model: MODEL, input: Array.from({ length: 4 }, (_, i) => `client ${w} call ${n} text ${i}`) });
          if (r.data.length === 4) ok++;
          else failures.push(`short answer: ${r.data.length}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await new Promise((r) => setTimeout(r, 500));
    process.kill(teiPid(fleet.agents[1]?.address as string, records), "SIGKILL");
    await new Promise((r) => setTimeout(r, 2500));
    running = false;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
  }, 60_000);
});
