/** Starting MCP servers as real child processes and driving them with the MCP SDK's own client. */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ROOT } from "../helpers/cli.js";

export const CLI = resolve(ROOT, "dist/cli/bin.js");
export const TICKET_SERVER = resolve(ROOT, "examples/ticket-lookup/server.ts");
export const TICKET_SERVER_ENV = resolve(ROOT, "examples/ticket-lookup/server-env.ts");
/** Node with TypeScript loading, as `npx tsx` gives a fresh clone. */
export const NODE_TS = [process.execPath, "--import", "tsx"] as const;

export const fingerprint = (value: string) => createHash("sha256").update(value).digest("hex").slice(0, 12);

export interface Ticket {
  ticket_id: string;
  key_sha256_prefix: string;
  key_length: number;
  server_pid: number;
}

export interface McpSession {
  client: Client;
  transport: StdioClientTransport;
  stderr: () => string;
  /** Calls lookup_ticket; resolves with the ticket, or rejects with the tool error text. */
  lookup(ticketId: string): Promise<Ticket>;
  closed: Promise<void>;
  close(): Promise<void>;
}

/** Starts `command args` as an MCP stdio server and connects a real MCP client to it. */
export async function connectMcp(command: string, args: string[], env: Record<string, string>): Promise<McpSession> {
  const transport = new StdioClientTransport({ command, args, env: { PATH: process.env.PATH ?? "", ...env }, stderr: "pipe", cwd: ROOT });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const client = new Client({ name: "credbroker-e2e", version: "1.0.0" });
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((r) => (markClosed = r));
  client.onclose = () => markClosed();
  try {
    await client.connect(transport);
  } catch (error) {
    throw new Error(`MCP connect failed: ${(error as Error).message}\nstderr:\n${stderr}`);
  }
  return {
    client,
    transport,
    stderr: () => stderr,
    closed,
    async lookup(ticketId) {
      const result = (await client.callTool({ name: "lookup_ticket", arguments: { ticket_id: ticketId } })) as { isError?: boolean; content: Array<{ type: string; text: string }> };
      const text = result.content[0]?.text ?? "";
      if (result.isError) throw new Error(text);
      return JSON.parse(text) as Ticket;
    },
    close: () => client.close(),
  };
}

/** Runs a process to completion, collecting its output. */
export function runProcess(command: string, args: string[], env: Record<string, string>, input = ""): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? "", ...env }, cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(input);
  });
}
