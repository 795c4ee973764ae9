/**
 * Runs the fake TEI (test/fake-tei/bin/text-embeddings-router) as a real child process on free
 * ports, with TEI's command line, and waits for its `Ready` line.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort } from "../../../test/harness/free-port.ts";

export const FAKE_TEI_BIN = fileURLToPath(new URL("../../../test/fake-tei/bin/text-embeddings-router", import.meta.url));

export interface FakeTeiProcess {
  readonly address: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Output so far (stdout + stderr). */
  output(): string;
  /** Sends a signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startFakeTei(modelId = "BAAI/bge-small-en-v1.5", env: Record<string, string> = {}): Promise<FakeTeiProcess> {
  const [port, prometheusPort] = [await freePort(), await freePort()];
  const child = spawn(FAKE_TEI_BIN, ["--model-id", modelId, "--port", String(port), "--prometheus-port", String(prometheusPort), "--hostname", "127.0.0.1"], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fake TEI did not get Ready in 20 s:\n${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/\bReady\b/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`fake TEI exited with ${code} before Ready:\n${out}`));
    });
  });
  return {
    address: `127.0.0.1:${port}`,
    port,
    child,
    output: () => out,
    async kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
