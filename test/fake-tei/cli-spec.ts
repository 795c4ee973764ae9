/**
 * The flag table of `text-embeddings-router` 1.9.3 (router/src/main.rs, tei.md §2): every long
 * flag, its clap VALUE_NAME, its env var, its default, and how its value is parsed. cli.ts turns
 * this table into a clap-compatible parser; nothing else in the fake reads it.
 */

/** How clap treats repetitions and values of a flag. */
export type FlagKind =
  /** `ArgAction::Set`: takes one value; given twice is an error. */
  | "value"
  /** `ArgAction::SetTrue`: takes no value; given twice is an error. */
  | "bool"
  /** `num_args(0..=1)` bool (`--auto-truncate [true|false]`, since 1.9.2). */
  | "optional-bool"
  /** `ArgAction::Append`: may repeat, collects every value. */
  | "append";

/** Result of parsing one raw value: the value, or the reason clap would print after the colon. */
export type ParseResult = { ok: true; value: unknown } | { ok: false; reason?: string; possible?: string[] };

/** One flag of the real CLI. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `prometheus-port`. */
  long: string;
  /** Field name of the `Args` struct (snake_case), used in the `Args { .. }` log line. */
  field: string;
  /** Short option letter, if any (`-p`). */
  short?: string;
  /** clap VALUE_NAME (UPPER_SNAKE); unused for "bool". */
  valueName: string;
  /** Env var read when the flag is absent from the command line. */
  env: string;
  kind: FlagKind;
  /** Parser for one raw value (string by default). */
  parse?: (raw: string) => ParseResult;
  /** Default value when neither the command line nor the env var set it. */
  defaultValue?: unknown;
  /** Flag whose presence on the command line conflicts with this one. */
  conflictsWith?: string;
  /** Hidden from --help (deprecated flags). */
  hidden?: boolean;
  /** One-line help text. */
  help: string;
}

/** Rust's `str::parse::<uN>()` error texts, which clap appends after the colon. */
function unsigned(max: number): (raw: string) => ParseResult {
  return (raw) => {
    if (raw === "") return { ok: false, reason: "cannot parse integer from empty string" };
    if (!/^\+?[0-9]+$/.test(raw)) return { ok: false, reason: "invalid digit found in string" };
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value > max) {
      return { ok: false, reason: "number too large to fit in target type" };
    }
    return { ok: true, value };
  };
}

/** A clap `ValueEnum` parser: only the listed values are accepted. */
function oneOf(values: string[]): (raw: string) => ParseResult {
  return (raw) => (values.includes(raw) ? { ok: true, value: raw } : { ok: false, possible: values });
}

/** clap's `BoolValueParser`: exactly `true` or `false`. */
export function parseBool(raw: string): ParseResult {
  if (raw === "true") return { ok: true, value: true };
  if (raw === "false") return { ok: true, value: false };
  return { ok: false, possible: ["true", "false"] };
}

const u16 = unsigned(65_535);
const usize = unsigned(Number.MAX_SAFE_INTEGER);

/** Every flag of text-embeddings-router 1.9.3, in the order of the `Args` struct. */
export const FLAGS: readonly FlagSpec[] = [
  {
    long: "model-id",
    field: "model_id",
    valueName: "MODEL_ID",
    env: "MODEL_ID",
    kind: "value",
    help: "The Hugging Face model ID, can be any model listed on <https://huggingface.co/models> with the `text-embeddings-inference` tag (meaning it's compatible with Text Embeddings Inference). Alternatively, the specified ID can also be a path to a local directory containing the necessary model files saved by the `save_pretrained(...)` methods of either Transformers or Sentence Transformers",
  },
  {
    long: "revision",
    field: "revision",
    valueName: "REVISION",
    env: "REVISION",
    kind: "value",
    help: "The actual revision of the model if you're referring to a model on the hub. You can use a specific commit id or a branch like `refs/pr/2`",
  },
  {
    long: "tokenization-workers",
    field: "tokenization_workers",
    valueName: "TOKENIZATION_WORKERS",
    env: "TOKENIZATION_WORKERS",
    kind: "value",
    parse: usize,
    help: "Optionally control the number of tokenizer workers used for payload tokenization, validation and truncation. Default to the number of CPU cores on the machine",
  },
  {
    long: "dtype",
    field: "dtype",
    valueName: "DTYPE",
    env: "DTYPE",
    kind: "value",
    parse: oneOf(["float16", "float32"]),
    help: "The dtype to be forced upon the model [possible values: float16, float32]",
  },
  {
    long: "served-model-name",
    field: "served_model_name",
    valueName: "SERVED_MODEL_NAME",
    env: "SERVED_MODEL_NAME",
    kind: "value",
    help: "The name of the model that is being served. If not specified, defaults to `--model-id`. It is only used for the OpenAI-compatible endpoints via HTTP",
  },
  {
    long: "pooling",
    field: "pooling",
    valueName: "POOLING",
    env: "POOLING",
    kind: "value",
    parse: oneOf(["cls", "mean", "splade", "last-token"]),
    help: "Optionally control the pooling method for embedding models [possible values: cls, mean, splade, last-token]",
  },
  {
    long: "max-concurrent-requests",
    field: "max_concurrent_requests",
    valueName: "MAX_CONCURRENT_REQUESTS",
    env: "MAX_CONCURRENT_REQUESTS",
    kind: "value",
    parse: usize,
    defaultValue: 512,
    help: "The maximum amount of concurrent requests for this particular deployment [default: 512]",
  },
  {
    long: "max-batch-tokens",
    field: "max_batch_tokens",
    valueName: "MAX_BATCH_TOKENS",
    env: "MAX_BATCH_TOKENS",
    kind: "value",
    parse: usize,
    defaultValue: 16_384,
    help: "The maximum amount of tokens that can be put in a batch [default: 16384]",
  },
  {
    long: "max-batch-requests",
    field: "max_batch_requests",
    valueName: "MAX_BATCH_REQUESTS",
    env: "MAX_BATCH_REQUESTS",
    kind: "value",
    parse: usize,
    help: "Optionally control the maximum number of individual requests in a batch",
  },
  {
    long: "max-client-batch-size",
    field: "max_client_batch_size",
    valueName: "MAX_CLIENT_BATCH_SIZE",
    env: "MAX_CLIENT_BATCH_SIZE",
    kind: "value",
    parse: usize,
    defaultValue: 32,
    help: "Control the maximum number of inputs that a client can send in a single request [default: 32]",
  },
  {
    long: "auto-truncate",
    field: "auto_truncate",
    valueName: "AUTO_TRUNCATE",
    env: "AUTO_TRUNCATE",
    kind: "optional-bool",
    parse: parseBool,
    defaultValue: true,
    help: "Control automatic truncation of inputs that exceed the model's maximum supported size [default: true] [possible values: true, false]",
  },
  {
    long: "default-prompt-name",
    field: "default_prompt_name",
    valueName: "DEFAULT_PROMPT_NAME",
    env: "DEFAULT_PROMPT_NAME",
    kind: "value",
    conflictsWith: "default-prompt",
    help: "The name of the prompt that should be used by default for encoding",
  },
  {
    long: "default-prompt",
    field: "default_prompt",
    valueName: "DEFAULT_PROMPT",
    env: "DEFAULT_PROMPT",
    kind: "value",
    conflictsWith: "default-prompt-name",
    help: "The prompt that should be used by default for encoding",
  },
  {
    long: "dense-path",
    field: "dense_path",
    valueName: "DENSE_PATH",
    env: "DENSE_PATH",
    kind: "value",
    help: "Optionally, define the path to the Dense module required for some embedding models",
  },
  {
    long: "hf-api-token",
    field: "hf_api_token",
    valueName: "HF_API_TOKEN",
    env: "HF_API_TOKEN",
    kind: "value",
    hidden: true,
    conflictsWith: "hf-token",
    help: "[DEPRECATED IN FAVOR OF `--hf-token`] Your Hugging Face Hub token",
  },
  {
    long: "hf-token",
    field: "hf_token",
    valueName: "HF_TOKEN",
    env: "HF_TOKEN",
    kind: "value",
    conflictsWith: "hf-api-token",
    help: "Your Hugging Face Hub token",
  },
  {
    long: "hostname",
    field: "hostname",
    valueName: "HOSTNAME",
    env: "HOSTNAME",
    kind: "value",
    defaultValue: "0.0.0.0",
    help: "The IP address to listen on [default: 0.0.0.0]",
  },
  {
    long: "port",
    field: "port",
    short: "p",
    valueName: "PORT",
    env: "PORT",
    kind: "value",
    parse: u16,
    defaultValue: 3000,
    help: "The port to listen on [default: 3000]",
  },
  {
    long: "uds-path",
    field: "uds_path",
    valueName: "UDS_PATH",
    env: "UDS_PATH",
    kind: "value",
    defaultValue: "/tmp/text-embeddings-inference-server",
    help: "The name of the unix socket some text-embeddings-inference backends will use as they communicate internally with gRPC [default: /tmp/text-embeddings-inference-server]",
  },
  {
    long: "huggingface-hub-cache",
    field: "huggingface_hub_cache",
    valueName: "HUGGINGFACE_HUB_CACHE",
    env: "HUGGINGFACE_HUB_CACHE",
    kind: "value",
    help: "The location of the huggingface hub cache. Used to override the location if you want to provide a mounted disk for instance",
  },
  {
    long: "payload-limit",
    field: "payload_limit",
    valueName: "PAYLOAD_LIMIT",
    env: "PAYLOAD_LIMIT",
    kind: "value",
    parse: usize,
    defaultValue: 2_000_000,
    help: "Payload size limit in bytes [default: 2000000]",
  },
  { long: "api-key", field: "api_key", valueName: "API_KEY", env: "API_KEY", kind: "value", help: "Set an api key for request authorization" },
  {
    long: "json-output",
    field: "json_output",
    valueName: "JSON_OUTPUT",
    env: "JSON_OUTPUT",
    kind: "bool",
    parse: parseBool,
    defaultValue: false,
    help: "Outputs the logs in JSON format (useful for telemetry)",
  },
  {
    long: "disable-spans",
    field: "disable_spans",
    valueName: "DISABLE_SPANS",
    env: "DISABLE_SPANS",
    kind: "bool",
    parse: parseBool,
    defaultValue: false,
    help: "Whether or not to include the log trace through spans",
  },
  {
    long: "otlp-endpoint",
    field: "otlp_endpoint",
    valueName: "OTLP_ENDPOINT",
    env: "OTLP_ENDPOINT",
    kind: "value",
    help: "The grpc endpoint for opentelemetry. Telemetry is sent to this endpoint as OTLP over gRPC",
  },
  {
    long: "otlp-service-name",
    field: "otlp_service_name",
    valueName: "OTLP_SERVICE_NAME",
    env: "OTLP_SERVICE_NAME",
    kind: "value",
    defaultValue: "text-embeddings-inference.server",
    help: "The service name for opentelemetry [default: text-embeddings-inference.server]",
  },
  {
    long: "prometheus-port",
    field: "prometheus_port",
    valueName: "PROMETHEUS_PORT",
    env: "PROMETHEUS_PORT",
    kind: "value",
    parse: u16,
    defaultValue: 9000,
    help: "The Prometheus port to listen on [default: 9000]",
  },
  {
    long: "cors-allow-origin",
    field: "cors_allow_origin",
    valueName: "CORS_ALLOW_ORIGIN",
    env: "CORS_ALLOW_ORIGIN",
    kind: "append",
    help: "Unused for gRPC servers",
  },
];

/** clap's display name of a flag in error messages: `--port <PORT>`, `--json-output`. */
export function displayName(flag: FlagSpec): string {
  if (flag.kind === "bool") return `--${flag.long}`;
  if (flag.kind === "optional-bool") return `--${flag.long} [<${flag.valueName}>]`;
  return `--${flag.long} <${flag.valueName}>`;
}
