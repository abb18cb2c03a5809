/** Runs the real `credbroker` CLI as a child process. */
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
/** The compiled CLI: test/global-setup.ts builds dist/ from the current sources before any test runs. */
const ENTRY = resolve(ROOT, "dist/cli/bin.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** Runs `credbroker ARGS` to completion; `input` is written to its stdin. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; input?: Buffer | string; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [ENTRY, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolvePromise({ code, stdout: stdoutBytes.toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), stdoutBytes });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** Starts a long-running command (dev, serve) and resolves with its first stdout line. */
export function startCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ child: ChildProcess; firstLine: string; stderr: () => string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [ENTRY, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      const newline = stdout.indexOf("\n");
      if (newline >= 0) resolvePromise({ child, firstLine: stdout.slice(0, newline), stderr: () => stderr });
    });
    child.on("exit", (code) => reject(new Error(`credbroker ${args.join(" ")} exited ${code}: ${stderr}`)));
  });
}

export function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null) return resolvePromise(child.exitCode);
    child.removeAllListeners("exit");
    child.once("exit", (code) => resolvePromise(code));
    child.kill("SIGTERM");
  });
}
