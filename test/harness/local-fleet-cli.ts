/**
 * `scripts/fleet-up.sh`: brings up a complete local fleet, creates an instance through the REST
 * API, waits until it is running, and prints an embedding obtained through the router, both with
 * tei-manager's multiplexer API and with TEI's own API. Then keeps the fleet up until Ctrl-C
 * (or exits at once with --exit).
 */
import { Command } from "commander";
import { byInstance, createTeiClients, startLocalFleet, waitFor } from "./index.ts";

const program = new Command("fleet-up")
  .description("Run a local TEI Fleet with the fake TEI and show an embedding served through the router.")
  .option("--agents <n>", "number of node agents", "2")
  .option("--model <id>", "model to serve", "BAAI/bge-small-en-v1.5")
  .option("--exit", "stop the fleet after printing the embedding")
  .parse();
const opts = program.opts<{ agents: string; model: string; exit?: boolean }>();

const say = (line: string) => process.stdout.write(`${line}\n`);
const fleet = await startLocalFleet({ agents: Number(opts.agents), gateway: true });
let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  say("stopping the fleet ...");
  await fleet.stop();
  process.exit(code);
};
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

async function main(): Promise<void> {
  say(`redis          ${fleet.redis.url}`);
  say(`control plane  ${fleet.controlPlaneUrl}   (admin token: ${fleet.adminToken})`);
  for (const a of fleet.agents) say(`node agent     ${a.name} advertising ${a.address}, API ${a.listenUrl}`);
  for (const r of fleet.routers) say(`router         ${r.address} (gRPC), ${r.httpUrl} (HTTP: TEI's API, OpenAI), metrics ${r.metricsUrl}/metrics`);
  say(`logs           ${fleet.dir}/logs`);

  const created = await fleet.api("POST", "/instances", { name: "demo", model_id: opts.model });
  if (created.status !== 201) throw new Error(`create failed: ${created.status} ${JSON.stringify(created.body)}`);
  say(`\nPOST /instances {"name":"demo","model_id":"${opts.model}"} -> ${created.status}`);
  const running = await waitFor(
    "the instance to be running",
    async () => {
      const { body } = await fleet.api("GET", "/instances/demo");
      return body?.status === "running" ? body : undefined;
    },
    60_000,
  );
  say(`instance demo is running on ${running.node} at ${running.address} (gpu ${JSON.stringify(running.gpu_ids ?? running.gpu_id)})`);

  const clients = createTeiClients(fleet.routers[0]!.url);
  const text = "TEI Fleet serves embeddings from a fleet of GPUs.";
  const viaMux = await waitFor("the router to route to demo", () => clients.mux.embed({ target: byInstance("demo"), request: { inputs: text } }), 20_000);
  const viaTei = await clients.embed.embed({ inputs: text }, { headers: { "x-tei-instance": "demo" } });
  const head = (v: number[]) =>
    `[${v
      .slice(0, 6)
      .map((x) => x.toFixed(4))
      .join(", ")}, ...]`;
  say(`\nembedding of "${text}" through the router:`);
  say(`  tei_multiplexer.v1.TeiMultiplexer/Embed  ${viaMux.embeddings.length}-d ${head(viaMux.embeddings)}`);
  say(`  tei.v1.Embed/Embed (x-tei-instance)      ${viaTei.embeddings.length}-d ${head(viaTei.embeddings)}`);
  // The same through the HTTP gateway, as the openai SDK would ask for it.
  const http = await fetch(`${fleet.routers[0]!.httpUrl}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: opts.model, input: text }),
  });
  const openai = (await http.json()) as { data?: { embedding: number[] }[] };
  const viaHttp = openai.data?.[0]?.embedding;
  if (http.status !== 200 || viaHttp === undefined) throw new Error(`POST /v1/embeddings: ${http.status} ${JSON.stringify(openai)}`);
  say(`  POST /v1/embeddings (HTTP gateway)       ${viaHttp.length}-d ${head(viaHttp)}`);

  if (opts.exit) return shutdown(0);
  say(`\nThe fleet is up. Try: curl -H 'authorization: Bearer <admin token>' ${fleet.controlPlaneUrl}/instances`);
  say(
    `  or: curl ${fleet.routers[0]!.httpUrl}/v1/embeddings -H 'content-type: application/json' -d '{"model":"${opts.model}","input":"hello"}'\nCtrl-C stops it.`,
  );
}

// Not a top-level await: shutdown() ends the process, which must not happen inside one.
main().catch((err: unknown) => {
  process.stderr.write(`fleet-up failed: ${err instanceof Error ? err.message : String(err)}\n(logs in ${fleet.dir}/logs)\n`);
  process.env.TEI_FLEET_KEEP_LOGS = "1";
  void shutdown(1);
});
