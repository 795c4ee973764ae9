/**
 * The serving half of start-up (tei.md §6.1 steps 7-8): the Prometheus listener, the gRPC server
 * with every tei.v1 service and health, `Ready`, the SIGTERM/SIGINT graceful shutdown, and the
 * backend health flip that turns the model's service SERVING. main.ts loads this module only
 * after the command line is valid, so usage errors exit without loading the gRPC stack.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import type { TeiArgs } from "./cli.ts";
import type { Faults } from "./faults.ts";
import { HealthState, registerHealth } from "./health.ts";
import { fatal, type Logger, SITES } from "./log.ts";
import type { ModelSpec } from "./models.ts";
import { serveMetrics, TeiMetrics } from "./prometheus.ts";
import { createGrpcServer, listen } from "./server.ts";
import { registerEmbed } from "./services/embed.ts";
import { registerInfo } from "./services/info.ts";
import { registerPredict } from "./services/predict.ts";
import { registerRerank } from "./services/rerank.ts";
import { Runtime } from "./services/runtime.ts";
import { registerTokenize } from "./services/tokenize.ts";

/** What the first half of start-up resolved. */
export interface ServeOptions {
  args: TeiArgs;
  model: ModelSpec;
  faults: Faults;
  log: Logger;
  /** The IP to bind (--hostname, or 0.0.0.0 when it was not an IP). */
  host: string;
  /** Effective max_input_length. */
  maxInputLength: number;
  tokenizationWorkers: number;
  /** Whether the model "runs" on a GPU (decides the default dtype). */
  gpu: boolean;
}

/** Linux errno texts as Rust prints them, for listen failures. */
function osError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return "Address already in use (os error 98)";
  if (code === "EADDRNOTAVAIL") return "Cannot assign requested address (os error 99)";
  if (code === "EACCES") return "Permission denied (os error 13)";
  return (err as Error).message;
}

/** Installs TEI's SIGTERM/SIGINT handling: log, stop accepting, drain, exit 0. */
function onShutdownSignal(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    log.info(SITES.shutdown, "signal received, starting graceful shutdown");
    void stop().then(() => process.exit(0));
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

/** Opens both listeners and serves until a signal. */
export async function serve(options: ServeOptions): Promise<void> {
  const { args, model, faults, log, host } = options;
  const inputLength = options.maxInputLength;
  const workers = options.tokenizationWorkers;
  const gpu = options.gpu;
  const metrics = new TeiMetrics(inputLength);
  const health = new HealthState(model.kind);
  const rt = new Runtime({ args, model, maxInputLength: inputLength, faults, metrics, health });
  const dtype = args.dtype ?? (gpu ? "float16" : "float32");

  const prometheus = await serveMetrics(metrics, host, args.prometheusPort).catch((err: unknown) =>
    fatal("failed to build prometheus recorder", [`failed to create HTTP listener: ${osError(err)}`]),
  );
  log.info(SITES.grpc, "Serving Prometheus metrics: 0.0.0.0:9000");

  const routes = (router: ConnectRouter) => {
    registerHealth(router, health);
    registerInfo(router, rt, { dtype, tokenizationWorkers: workers });
    registerTokenize(router);
    registerEmbed(router, rt);
    registerPredict(router, rt);
    registerRerank(router, rt);
  };
  const grpc = createGrpcServer({ routes, apiKey: args.apiKey });
  const addr = host.includes(":") ? `[${host}]:${args.port}` : `${host}:${args.port}`;
  log.info(SITES.grpc, `Starting gRPC server: ${addr}`);
  log.info(SITES.grpc, "Ready");
  await listen(grpc.server, host, args.port).catch((err: unknown) => fatal("transport error", [`error creating server listener: ${osError(err)}`]));

  onShutdownSignal(log, async () => {
    health.closing.abort();
    prometheus.close();
    prometheus.closeAllConnections();
    await grpc.shutdown();
  });
  // Warm-up succeeded: the backend health watch flips the model's service(s) to SERVING.
  setTimeout(() => health.setBackendHealthy(true), faults.servingDelayMs);
}
