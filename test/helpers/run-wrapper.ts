/**
 * A real broker for the `credbroker run` specs (test/e2e/run-*.test.ts): two servers, their
 * secrets, and the compiled wrapper run against it as a process, a long-running child or the
 * stdio transport of an MCP session.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { CLI, connectMcp, NODE_TS, runProcess, TICKET_SERVER_ENV, type McpSession } from "../e2e/mcp.js";
import { startTestBroker, testSecret, type TestBroker } from "./broker.js";

export const RUN_POLICY = `
servers:
  ticket-mcp:
    allow:
      - secrets: ["tickets/api-key", "tickets/other"]
        actions: [read]
        max_ttl: 1h
  stranger-mcp:
    allow:
      - secrets: ["stranger/*"]
        actions: [read]
`;

export const RUN_TICKETS = ["run", "--env", "TICKETS_API_KEY=tickets/api-key", "--"];

/** `node -e script args...` as the wrapped command. */
export const node = (script: string, ...args: string[]) => [process.execPath, "-e", script, ...args];

/** A wrapper started in the background, its output collected as it comes. */
export interface RunningWrapper {
  child: ChildProcess;
  out(): string;
  err(): string;
  /** Resolves with the exit code once the wrapper has exited. */
  code: Promise<number | null>;
  /** The exit code, or undefined while it runs. */
  exitCode(): number | null | undefined;
}

export interface RunBroker {
  b: TestBroker;
  ticketSecret: string;
  strangerSecret: string;
  /** The value of tickets/api-key as stored at start. */
  key: string;
  /** The wrapper's environment: the broker's URL and a server's credentials (ticket-mcp by default). */
  env(id?: string, secret?: string): Record<string, string>;
  /** Runs `credbroker ARGS` as ticket-mcp to completion. */
  run(args: string[], input?: string, extraEnv?: Record<string, string>): ReturnType<typeof runProcess>;
  /** Starts `credbroker ARGS` as ticket-mcp in the background. */
  spawnRun(args: string[]): RunningWrapper;
  /** An MCP client talking to the example ticket server through `credbroker run`. */
  connectThroughRun(extra?: string[]): Promise<McpSession>;
}

export async function startRunBroker(): Promise<RunBroker> {
  const b = await startTestBroker({ policy: RUN_POLICY });
  const ticketSecret = await b.registerServer("ticket-mcp");
  const strangerSecret = await b.registerServer("stranger-mcp");
  const key = testSecret("tickets-key");
  await b.putSecret("tickets/api-key", key);
  await b.putSecret("tickets/other", testSecret("other"));
  const env = (id = "ticket-mcp", secret = ticketSecret) => ({ CREDBROKER_URL: b.url, CREDBROKER_CLIENT_ID: id, CREDBROKER_CLIENT_SECRET: secret });
  return {
    b,
    ticketSecret,
    strangerSecret,
    key,
    env,
    run: (args, input = "", extraEnv = {}) => runProcess(process.execPath, [CLI, ...args], { ...env(), ...extraEnv }, input),
    spawnRun(args) {
      const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? "", ...env() }, stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      let err = "";
      let exitCode: number | null | undefined;
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
      const code = new Promise<number | null>((resolve) => child.on("close", (c) => resolve((exitCode = c))));
      return { child, out: () => out, err: () => err, code, exitCode: () => exitCode };
    },
    connectThroughRun: (extra = []) => connectMcp(process.execPath, [CLI, "run", ...extra, "--env", "TICKETS_API_KEY=tickets/api-key", "--", ...NODE_TS, TICKET_SERVER_ENV], env()),
  };
}
