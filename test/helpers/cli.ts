/** Runs the real `credbroker` CLI as a child process. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

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

export interface DevBroker {
  dir: string;
  child: ChildProcess;
  stderr: () => string;
  url: string;
  /** CREDBROKER_URL and the dev admin token, for `runCli`. */
  env: NodeJS.ProcessEnv;
  /** Stops it (SIGTERM), removes its folder, and resolves with its exit code. */
  stop(): Promise<number | null>;
}

/**
 * A temporary XDG_CONFIG_HOME for `credbroker login`, and the environment that makes the CLI use
 * it and nothing else: CREDBROKER_URL, CREDBROKER_TOKEN and CREDBROKER_PROFILE removed.
 */
export function tempConfigHome(): { dir: string; credentialsFile: string; env: NodeJS.ProcessEnv; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "credbroker-config-"));
  return {
    dir,
    credentialsFile: join(dir, "credbroker", "credentials.json"),
    env: { XDG_CONFIG_HOME: dir, CREDBROKER_URL: undefined, CREDBROKER_TOKEN: undefined, CREDBROKER_PROFILE: undefined },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `credbroker dev --json` in a temporary folder with `policy` as its only policy file. */
export async function startDev(policy: string): Promise<DevBroker> {
  const dir = mkdtempSync(join(tmpdir(), "credbroker-cli-"));
  mkdirSync(join(dir, "policies"));
  writeFileSync(join(dir, "policies", "servers.yaml"), policy);
  const started = await startCli(["dev", "--json", "--port", "0", "--data-dir", join(dir, "data"), "--policies", join(dir, "policies")], { cwd: dir });
  const ready = JSON.parse(started.firstLine) as { url: string; admin_token: string };
  return {
    dir,
    child: started.child,
    stderr: started.stderr,
    url: ready.url,
    env: { CREDBROKER_URL: ready.url, CREDBROKER_TOKEN: ready.admin_token },
    async stop() {
      const code = await stop(started.child);
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
