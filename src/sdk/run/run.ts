/**
 * `credbroker run`: fetch secrets as the server in CREDBROKER_CLIENT_ID, start a command with them
 * in its environment, relay its stdio untouched, forward signals, exit with its status, and on a
 * rotation or revocation restart it with fresh values (keeping an MCP client's stdio session
 * alive across the restart) or send it a signal.
 *
 * The wrapper writes only to stderr, and never a value.
 */
import type { ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { BrokerClient, BrokerClientError, type SecretSet } from "../client.js";
import { exitStatus, hasExited, signalNumber, startChild, stopChild } from "./child.js";
import { childEnvironment, substituteArgs, type OnChange } from "./options.js";
import { StdioSession } from "./stdio-session.js";

export type RunStdio = "auto" | "mcp" | "inherit";

export interface RunOptions {
  /** Environment name → secret name. */
  env: Record<string, string>;
  command: string;
  args: string[];
  onChange: OnChange;
  /** `auto` (default): relay MCP sessions over pipes, inherit a terminal; `mcp`: always relay; `inherit`: the child owns stdin/stdout. */
  stdio: RunStdio;
  /** How long to keep trying to reach the broker at start, ms (default 30 000). */
  startTimeoutMs: number;
  /** How long a restart waits for the old child to answer requests in flight, ms (default 10 000). */
  drainTimeoutMs: number;
  /** How long a child may take to exit after SIGTERM before SIGKILL, ms (default 10 000). */
  killGraceMs: number;
}

export interface RunIo {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable;
  env: Record<string, string | undefined>;
  /** Where SIGINT, SIGTERM and SIGHUP arrive (the process). */
  signals: Pick<NodeJS.Process, "on" | "off">;
}

const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Runs the command to completion; resolves with the wrapper's exit code. */
export async function runWithSecrets(options: RunOptions, io: RunIo): Promise<number> {
  const log = (message: string) => io.stderr.write(`credbroker run: ${message}\n`);
  let client: BrokerClient;
  try {
    client = BrokerClient.fromEnv(io.env, { onUnhandledError: (error) => log(error.message) });
  } catch (error) {
    log(error instanceof Error ? error.message : String(error));
    return 2;
  }
  let secrets: SecretSet<string>;
  try {
    secrets = await client.load(options.env, { retry: { attempts: Number.POSITIVE_INFINITY, maxElapsedMs: options.startTimeoutMs, baseDelayMs: 250, maxDelayMs: 5_000 } });
  } catch (error) {
    await client.close();
    log(error instanceof Error ? error.message : String(error));
    return 1;
  }
  const supervisor = new Supervisor(options, io, secrets, log);
  try {
    return await supervisor.run();
  } finally {
    await client.close();
  }
}

interface RunningChild {
  process: ChildProcess;
  /** The wrapper stops it on purpose (a restart): its exit does not end the run. */
  replaced: boolean;
}

class Supervisor {
  private readonly session: StdioSession | undefined;
  private current: RunningChild | undefined;
  private restarting = false;
  private restartAgain = false;
  private terminating: NodeJS.Signals | undefined;
  private finished = false;
  private resolveRun: (code: number) => void = () => {};
  private readonly binaryWarned = new Set<string>();

  constructor(
    private readonly options: RunOptions,
    private readonly io: RunIo,
    private readonly secrets: SecretSet<string>,
    private readonly log: (message: string) => void,
  ) {
    const relay = options.stdio === "mcp" || (options.stdio === "auto" && !io.stdin.isTTY && !io.stdout.isTTY);
    if (relay) {
      this.session = new StdioSession(
        { toClient: (bytes) => io.stdout.write(bytes), log },
        { mode: options.stdio === "mcp" ? "mcp" : "auto" },
      );
    }
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.resolveRun = resolve));
    const onSignal = (signal: NodeJS.Signals) => this.onSignal(signal);
    const onChange = (names: string[]) => this.onChange(names);
    const onError = (error: BrokerClientError) => this.onError(error);
    const onData = (chunk: Buffer) => this.session?.fromClient(chunk);
    const onEnd = () => this.session?.endFromClient();
    for (const signal of FORWARDED) this.io.signals.on(signal, onSignal);
    this.secrets.on("change", onChange);
    this.secrets.on("error", onError);
    if (this.session) {
      this.io.stdin.on("data", onData);
      this.io.stdin.on("end", onEnd);
    }
    void this.start().catch((error: unknown) => this.fail(error));
    return done.finally(() => {
      for (const signal of FORWARDED) this.io.signals.off(signal, onSignal);
      this.secrets.off("change", onChange);
      this.secrets.off("error", onError);
      if (this.session) {
        this.io.stdin.off("data", onData);
        this.io.stdin.off("end", onEnd);
        this.io.stdin.pause();
      }
    });
  }

  private finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveRun(code);
  }

  /** Something went wrong in the wrapper: stop the child, exit 1. */
  private fail(error: unknown): void {
    this.log(error instanceof Error ? error.message : String(error));
    const child = this.current;
    if (child && !hasExited(child.process)) {
      child.replaced = true;
      void stopChild(child.process, this.options.killGraceMs).then(() => this.finish(1));
    } else {
      this.finish(1);
    }
  }

  private async start(): Promise<void> {
    await this.spawn();
  }

  /** Starts a child with the current values and, when relaying, hands it the session. */
  private async spawn(): Promise<void> {
    const values = this.values();
    const child = startChild({
      command: this.options.command,
      args: substituteArgs(this.options.args, values),
      env: childEnvironment(this.io.env, values),
      stdio: this.session ? "pipe" : "inherit",
    });
    const running: RunningChild = { process: child, replaced: false };
    this.current = running;
    const spawned = new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    child.on("close", (code, signal) => {
      if (running.replaced || this.finished) return;
      this.finish(exitStatus(code, signal));
    });
    try {
      await spawned;
    } catch (error) {
      running.replaced = true;
      throw new Error(`cannot start ${this.options.command}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    child.on("error", (error) => this.log(`${this.options.command}: ${error.message}`));
    if (this.session) {
      const session = this.session;
      const generation = session.currentGeneration;
      child.stdin!.on("error", () => {
        // The child closed its stdin or died; its exit is handled by "close".
      });
      child.stdout!.on("data", (chunk: Buffer) => session.fromChild(generation, chunk));
      child.stdout!.on("end", () => session.endFromChild(generation));
      await session.attach({
        write: (bytes) => {
          if (!child.stdin!.destroyed) child.stdin!.write(bytes);
        },
        end: () => child.stdin!.end(),
      });
    }
  }

  private values(): Record<string, string> {
    const values = this.secrets.values();
    for (const name of this.secrets.names) {
      if (this.secrets.info(name).state === "valid" && !this.binaryWarned.has(name) && isBinary(this.secrets.bytes(name), values[name]!)) {
        this.binaryWarned.add(name);
        this.log(`${name} is not UTF-8 text: it is passed base64-encoded`);
      }
    }
    return values;
  }

  private onSignal(signal: NodeJS.Signals): void {
    this.terminating ??= signal === "SIGHUP" ? undefined : signal;
    const child = this.current;
    if (child && !hasExited(child.process) && !child.replaced) {
      child.process.kill(signal);
      return;
    }
    // Between two children (a restart): nothing to forward to.
    if (signal !== "SIGHUP") this.finish(128 + signalNumber(signal));
  }

  private onChange(names: string[]): void {
    if (this.finished) return;
    const action = this.options.onChange;
    this.log(`new value for ${names.join(", ")}${action.kind === "restart" ? ": restarting the command" : action.kind === "signal" ? `: sending ${action.signal}` : action.kind === "exit" ? ": stopping" : ""}`);
    switch (action.kind) {
      case "restart":
        void this.restart();
        return;
      case "signal":
        if (this.current && !hasExited(this.current.process)) this.current.process.kill(action.signal);
        return;
      case "exit":
        if (this.current && !hasExited(this.current.process)) this.current.process.kill("SIGTERM");
        return;
      case "none":
        return;
    }
  }

  private onError(error: BrokerClientError): void {
    this.log(error.message);
    const lost = error.code === "lease_revoked" || error.code === "lease_expired" || error.code === "server_disabled";
    if (!lost || this.finished) return;
    // The child holds values it may no longer use: fail closed, unless told to leave it alone.
    if (this.options.onChange.kind === "restart" || this.options.onChange.kind === "exit") {
      this.fail(new Error(`stopping ${this.options.command}: ${error.names.join(", ") || "its secrets"} may no longer be used`));
    }
  }

  private async restart(): Promise<void> {
    if (this.restarting) {
      this.restartAgain = true;
      return;
    }
    this.restarting = true;
    try {
      do {
        this.restartAgain = false;
        await this.restartOnce();
      } while (this.restartAgain && !this.finished);
    } catch (error) {
      this.fail(error);
    } finally {
      this.restarting = false;
    }
  }

  private async restartOnce(): Promise<void> {
    if (this.finished || this.terminating) return;
    this.values(); // throws now, before the old child is stopped, if a value is unavailable
    const old = this.current;
    if (this.session) {
      this.session.hold();
      await this.session.drained(this.options.drainTimeoutMs);
    }
    if (old) {
      old.replaced = true;
      this.session?.detach("credbroker run restarted the server to apply new secret values");
      await stopChild(old.process, this.options.killGraceMs);
    }
    if (this.finished) return;
    if (this.terminating) return this.finish(128 + signalNumber(this.terminating));
    await this.spawn();
  }
}

/** A value the broker sent base64-encoded (not UTF-8): get() gives the base64 text. */
function isBinary(bytes: Uint8Array, text: string): boolean {
  return Buffer.from(text, "utf8").compare(bytes) !== 0;
}
