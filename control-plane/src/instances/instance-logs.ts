import { ApiError } from "../errors/api-error.ts";
import type { StoredInstance } from "../store/instance-repository.ts";
import type { NodeReader } from "../store/node-reader.ts";

/** `GET /instances/:name/logs?tail=N`. */
export interface InstanceLogsView {
  instance: string;
  replica: number;
  node: string;
  /** "agent" when read live from the node agent, "heartbeat" when the agent could not be reached
   * and the last lines the agent reported with its heartbeat are shown instead. */
  source: "agent" | "heartbeat";
  lines: string[];
}

/** Options of {@link fetchInstanceLogs}. */
export interface LogsOptions {
  nodes: NodeReader;
  /** Sent to the agent as a Bearer token (agents accept the fleet's join token). */
  agentToken?: string;
  timeoutMs?: number;
}

/**
 * Reads an instance's recent TEI output through the node agent that runs it: the control plane
 * has no logs of its own, the agent keeps each instance's output (issue 5). The agent's
 * `/instances/:name/logs?tail=N` (`:name` may be an assignment id) answers `{"lines": [...]}`
 * (a bare array is accepted too).
 */
export async function fetchInstanceLogs(stored: StoredInstance, tail: number, replicaIndex: number | undefined, opts: LogsOptions): Promise<InstanceLogsView> {
  const name = stored.instance.spec?.name ?? "";
  const candidates = stored.replicas.filter((r) => r.node !== "" && (replicaIndex === undefined || r.index === replicaIndex));
  const replica = candidates.find((r) => r.status === "running") ?? candidates[0];
  if (!replica) {
    throw new ApiError(
      "INVALID_INSTANCE_STATE",
      replicaIndex === undefined
        ? `instance '${name}' has no replica placed on a node, so it has no logs yet`
        : `instance '${name}' has no replica ${replicaIndex} placed on a node`,
      { field: replicaIndex === undefined ? undefined : "replica" },
    );
  }
  const base = { instance: name, replica: replica.index, node: replica.node };
  const fallback = (why: string, cause?: unknown): InstanceLogsView => {
    if (replica.lastLogLines.length > 0) return { ...base, source: "heartbeat", lines: replica.lastLogLines.slice(-tail) };
    throw new ApiError("BACKEND_UNAVAILABLE", `node agent of '${replica.node}' is unreachable (${why})`, { cause });
  };
  const node = await opts.nodes.get(replica.node);
  if (!node || node.agentUrl === "") return fallback("node has no agent URL");
  // The agent accepts an assignment id in place of the name: it picks exactly this replica.
  const url = new URL(`/instances/${encodeURIComponent(replica.assignmentId || name)}/logs`, node.agentUrl);
  url.searchParams.set("tail", String(tail));
  try {
    const res = await fetch(url, {
      headers: opts.agentToken ? { authorization: `Bearer ${opts.agentToken}` } : {},
      signal: AbortSignal.timeout(opts.timeoutMs ?? 3000),
    });
    if (!res.ok) return fallback(`agent answered HTTP ${res.status}`);
    const body = (await res.json()) as unknown;
    const lines = Array.isArray(body) ? body : (body as { lines?: unknown })?.lines;
    if (!Array.isArray(lines)) return fallback("agent answered without lines");
    return { ...base, source: "agent", lines: lines.map(String).slice(-tail) };
  } catch (err) {
    return fallback(err instanceof Error ? err.message : String(err), err);
  }
}
