/**
 * TEI's command line for a spec, built in one place from the tables of tei-flags.ts. tei-manager's
 * worst bug was passing `--prometheus-port` twice (TEI's clap parser exits 2 on any repeated
 * single-value flag), so every flag the fleet manages appears exactly once, and the user's
 * `extra_args` may neither repeat one of them nor repeat a flag of their own (extra-args.ts, the
 * rule the control plane applied when the spec was written). The node agent runs what this
 * returns; a spec setting reaches TEI through {@link TEI_SETTING_FLAGS}, not through code here.
 */
import { type DescField, ScalarType } from "@bufbuild/protobuf";
import { type InstanceSpec, InstanceSpecSchema } from "@tei-fleet/proto/fleet/v1";
import { findExtraArgsProblem } from "./extra-args.ts";
import { POOLING_VALUES, TEI_SETTING_FLAGS } from "./tei-flags.ts";

/** What the node decides about a replica, beside its spec. */
export interface TeiPlacement {
  /** TEI's gRPC port (`--port`), allocated by the scheduler when the spec has none. */
  port: number;
  /** TEI's Prometheus port (`--prometheus-port`), likewise. */
  prometheusPort: number;
  /** TEI's `--hostname`: the node's advertise address (an IP, as TEI requires). */
  hostname: string;
}

/** Why a spec cannot be passed to TEI: one sentence and the flag at fault, as the user spelt it. */
export interface TeiCommandLineProblem {
  message: string;
  flag: string | undefined;
}

/** TEI's argument vector (without the binary), or why there is none. */
export type TeiCommandLine = { ok: true; args: string[] } | { ok: false; problem: TeiCommandLineProblem };

/** The proto field of each setting row, resolved once (a row naming no field is a bug here). */
const SETTINGS: readonly { field: DescField; flag: string }[] = TEI_SETTING_FLAGS.map(({ field, flag }) => {
  const desc = InstanceSpecSchema.fields.find((f) => f.name === field);
  if (desc === undefined || desc.fieldKind !== "scalar") throw new Error(`TEI_SETTING_FLAGS names ${field}, which is no scalar field of InstanceSpec`);
  return { field: desc, flag };
});

/**
 * Builds TEI's arguments for `spec` placed at `placement`: the managed flags first in a fixed
 * order, then the setting flags of the fields that are set, `--json-output`, and the checked
 * extra arguments verbatim. Checked again here (not only when the spec was written) because a
 * spec may have been stored before a rule tightened, or come from an older control plane.
 */
export function teiCommandLine(spec: InstanceSpec, placement: TeiPlacement): TeiCommandLine {
  const refuse = (message: string, flag: string | undefined): TeiCommandLine => ({ ok: false, problem: { message, flag } });
  if (spec.modelId.trim() === "") return refuse("model_id is empty", "--model-id");
  if (spec.modelId.startsWith("-")) return refuse(`model_id ${JSON.stringify(spec.modelId)} looks like a flag`, "--model-id");
  for (const [port, flag] of [
    [placement.port, "--port"],
    [placement.prometheusPort, "--prometheus-port"],
  ] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return refuse(`${flag} ${port} is not a TCP port (1-65535)`, flag);
  }
  if (placement.port === placement.prometheusPort) return refuse(`--port and --prometheus-port are both ${placement.port}`, "--prometheus-port");
  if (spec.pooling !== undefined && !(POOLING_VALUES as readonly string[]).includes(spec.pooling)) {
    return refuse(`pooling ${JSON.stringify(spec.pooling)} is not one of ${POOLING_VALUES.join(", ")}`, "--pooling");
  }
  const extra = findExtraArgsProblem(spec.extraArgs);
  if (extra !== undefined) return refuse(extra.message, extra.spelling);

  const args = [
    "--model-id",
    spec.modelId,
    "--port",
    String(placement.port),
    "--prometheus-port",
    String(placement.prometheusPort),
    "--hostname",
    placement.hostname,
  ];
  const fields = spec as unknown as Record<string, unknown>;
  for (const { field, flag } of SETTINGS) {
    const value = fields[field.localName];
    if (value === undefined) continue;
    if (field.scalar === ScalarType.BOOL) {
      // A boolean setting is a switch: present when true.
      if (value === true) args.push(flag);
    } else args.push(flag, String(value));
  }
  // JSON logs let the agent parse levels and messages (CPU fallback, Ready) reliably.
  args.push("--json-output");
  args.push(...spec.extraArgs);
  return { ok: true, args };
}
