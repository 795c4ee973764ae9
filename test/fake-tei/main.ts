#!/usr/bin/env node
/**
 * The fake `text-embeddings-router` (TEI 1.9.3, gRPC build). It takes TEI's real command line,
 * logs TEI's start-up sequence, serves tei.v1 + grpc.health.v1 on --port and Prometheus text on
 * --prometheus-port, exits like TEI (0 after SIGTERM, 1 on start-up errors, 2 on usage errors,
 * SIGABRT on panics), and injects faults from FAKE_TEI_* settings (faults.ts).
 * Run it through bin/text-embeddings-router.
 */
import { availableParallelism } from "node:os";
import { isIP } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConnectRouter } from "@connectrpc/connect";
import { formatArgs } from "./args-debug.ts";
import { parseCli, type TeiArgs } from "./cli.ts";
import { loadFaults, type Faults } from "./faults.ts";
import { HealthState, registerHealth } from "./health.ts";
import { SITES, createLogger, fatal, type Logger } from "./log.ts";
import { applyPooling, findModel, type ModelSpec } from "./models.ts";
import { TeiMetrics, serveMetrics } from "./prometheus.ts";
import { scanPort, writeStartRecord } from "./record.ts";
import { createGrpcServer, listen } from "./server.ts";
import { registerEmbed } from "./services/embed.ts";
import { registerInfo } from "./services/info.ts";
import { registerPredict } from "./services/predict.ts";
import { registerRerank } from "./services/rerank.ts";
import { Runtime } from "./services/runtime.ts";
import { registerTokenize } from "./services/tokenize.ts";

/** Linux errno texts as Rust prints them, for listen failures. */
function osError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return "Address already in use (os error 98)";
  if (code === "EADDRNOTAVAIL") return "Cannot assign requested address (os error 99)";
  if (code === "EACCES") return "Permission denied (os error 13)";
  return (err as Error).message;
}

/** Parses the command line, or prints clap's output and exits. */
function parseOrExit(): TeiArgs {
  const argv = process.argv.slice(2);
  const outcome = parseCli(argv, process.env);
  if (outcome.kind === "run") return outcome.args;
  const recordFile = process.env.FAKE_TEI_RECORD_FILE;
  if (recordFile) writeStartRecord(recordFile, scanPort(argv, process.env));
  if (outcome.stdout) process.stdout.write(outcome.stdout);
  if (outcome.stderr) process.stderr.write(outcome.stderr);
  process.exit(outcome.code);
}

/** TEI's "download" phase: known models resolve, unknown ones fail like an offline hub. */
function resolveModel(args: TeiArgs, faults: Faults, log: Logger): ModelSpec {
  log.info(SITES.download, "Starting download");
  const found = findModel(args.modelId, faults.allowAnyModel);
  if (!found) {
    fatal("Could not download model artifacts", [
      `request error: error sending request for url (https://huggingface.co/${args.modelId}/resolve/main/config.json)`,
    ]);
  }
  if (!args.pooling) log.info(SITES.download, "Downloading `1_Pooling/config.json`");
  log.info(SITES.download, "Downloading `config_sentence_transformers.json`");
  log.info(SITES.download, "Downloading `config.json`");
  log.info(SITES.download, "Downloading `tokenizer.json`");
  log.info(SITES.download, "Model artifacts downloaded in 1.830412ms");
  const pooled = applyPooling(found, args.pooling);
  if (pooled.warning) log.warn(SITES.main, pooled.warning);
  if (pooled.error) fatal("Could not create backend", [`Could not start backend: ${pooled.error}`]);
  return pooled.model;
}

/** The effective max_input_length: the model's, capped by --max-batch-tokens when auto-truncating. */
function maxInputLength(args: TeiArgs, model: ModelSpec): number {
  if (model.maxInputLength <= args.maxBatchTokens) return model.maxInputLength;
  if (args.autoTruncate) return args.maxBatchTokens;
  fatal(
    `\`--max-batch-tokens\` cannot be lower than the model \`max_input_length\` (${args.maxBatchTokens} < ${model.maxInputLength})`,
  );
}

/** Logs device selection; returns whether the model "runs on the GPU". */
function selectDevice(model: ModelSpec, faults: Faults, log: Logger): boolean {
  const visible = process.env.CUDA_VISIBLE_DEVICES;
  const cuda = visible !== undefined && visible !== "";
  if (cuda) log.info(SITES.backend, `Using CUDA_VISIBLE_DEVICES=${visible}`);
  log.info(SITES.backend, "Downloading `model.safetensors`");
  log.info(SITES.backend, "Model weights downloaded in 2.104588ms");
  const gpu = cuda && !faults.cpuFallback;
  if (cuda && !gpu) {
    log.warn(SITES.backend, "Could not find a compatible CUDA device on host: CUDA_ERROR_NO_DEVICE");
    log.warn(SITES.backend, "Using CPU instead");
  }
  const device = gpu ? "Cuda(CudaDevice(DeviceId(1)))" : "Cpu";
  log.info(SITES.candle, `Starting ${gpu ? model.arch.cuda : model.arch.cpu} model on ${device}`);
  return gpu;
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

/** The whole start-up sequence of tei.md §6.1. */
async function main(): Promise<void> {
  const args = parseOrExit();
  let faults: Faults;
  try {
    faults = loadFaults(process.env, args.modelId);
  } catch (err) {
    fatal("invalid fake TEI fault settings", [(err as Error).message]);
  }
  if (faults.recordFile) writeStartRecord(faults.recordFile, args.port);

  const log = createLogger({ json: args.jsonOutput });
  log.info(SITES.main, formatArgs(args.fields));
  if (faults.exitAtStart !== undefined) {
    process.stderr.write(`Error: FAKE_TEI_EXIT_AT_START=${faults.exitAtStart}: injected start-up failure\n`);
    process.exit(faults.exitAtStart);
  }
  let host = args.hostname;
  if (isIP(host) === 0) {
    log.warn(SITES.main, "Invalid hostname, defaulting to 0.0.0.0");
    host = "0.0.0.0";
  }

  const model = resolveModel(args, faults, log);
  const inputLength = maxInputLength(args, model);
  log.info(SITES.lib, `Maximum number of tokens per request: ${inputLength}`);
  const workers = args.tokenizationWorkers ?? Math.min(64, Math.max(1, availableParallelism() - 1));
  log.info(SITES.tokenization, `Starting ${workers} tokenization workers`);
  log.info(SITES.lib, "Starting model backend");
  const gpu = selectDevice(model, faults, log);
  if (faults.startupDelayMs > 0) await sleep(faults.startupDelayMs); // loading the weights
  log.info(SITES.lib, "Warming up model");

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
  await listen(grpc.server, host, args.port).catch((err: unknown) =>
    fatal("transport error", [`error creating server listener: ${osError(err)}`]),
  );

  onShutdownSignal(log, async () => {
    health.closing.abort();
    prometheus.close();
    prometheus.closeAllConnections();
    await grpc.shutdown();
  });
  // Warm-up succeeded: the backend health watch flips the model's service(s) to SERVING.
  setTimeout(() => health.setBackendHealthy(true), faults.servingDelayMs);
}

await main();
