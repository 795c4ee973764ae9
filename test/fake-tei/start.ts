/**
 * The fake `text-embeddings-router` (TEI 1.9.3, gRPC build). It takes TEI's real command line,
 * logs TEI's start-up sequence, serves tei.v1 + grpc.health.v1 on --port and Prometheus text on
 * --prometheus-port, exits like TEI (0 after SIGTERM, 1 on start-up errors, 2 on usage errors,
 * SIGABRT on panics), and injects faults from FAKE_TEI_* settings (faults.ts).
 * Loaded by main.ts; run it through bin/text-embeddings-router.
 */

import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { formatArgs } from "./args-debug.ts";
import { parseCli, type TeiArgs } from "./cli.ts";
import { type Faults, loadFaults } from "./faults.ts";
import { createLogger, fatal, type Logger, SITES } from "./log.ts";
import { applyPooling, findModel, type ModelSpec } from "./models.ts";
import { scanPort, writeStartRecord } from "./record.ts";

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
  fatal(`\`--max-batch-tokens\` cannot be lower than the model \`max_input_length\` (${args.maxBatchTokens} < ${model.maxInputLength})`);
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
  // The gRPC stack loads only once the command line is valid, meanwhile the "weights" load.
  const loading = import("./serve.ts");
  if (faults.startupDelayMs > 0) await sleep(faults.startupDelayMs); // loading the weights
  log.info(SITES.lib, "Warming up model");

  const { serve } = await loading;
  await serve({ args, model, faults, log, host, maxInputLength: inputLength, tokenizationWorkers: workers, gpu });
}

await main();
