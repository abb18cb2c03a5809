/**
 * An MCP client talking to a stdio server through `credbroker run` sees exactly the bytes it sees
 * without the wrapper: initialize, tools/list and tools/call, request by request.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/wait.js";
import { CLI, NODE_TS } from "./mcp.js";

const SERVER = resolve(ROOT, "test/e2e/fixtures/fingerprint-server.ts");

// Exactly what a client might send, odd spacing and non-ASCII included: the wrapper must not re-serialise.
const REQUESTS = [
  `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bytes-test","version":"1.0.0"}}}\n`,
  `{"jsonrpc":"2.0","method":"notifications/initialized"}\n`,
  `{ "jsonrpc": "2.0", "id": "list-1", "method": "tools/list" }\n`,
  `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fingerprint","arguments":{"label":"héllo \\u2603 ☃"}}}\r\n`,
];

/** Sends the requests one after the other, each once the previous answer arrived; returns every byte of stdout. */
async function converse(command: string, args: string[], env: Record<string, string>): Promise<{ stdout: Buffer; code: number | null; stderr: string }> {
  const child = spawn(command, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["pipe", "pipe", "pipe"] });
  const chunks: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<number | null>((resolvePromise) => child.on("close", resolvePromise));
  const lines = () => Buffer.concat(chunks).toString("utf8").split("\n").length - 1;
  let expected = 0;
  for (const request of REQUESTS) {
    child.stdin.write(request);
    if (request.includes('"id"')) {
      expected += 1;
      await waitFor(`answer ${expected} (stderr: ${stderr})`, () => lines() >= expected, 30_000);
    }
  }
  child.stdin.end();
  const code = await closed;
  return { stdout: Buffer.concat(chunks), code, stderr };
}

describe("byte-for-byte transparency", () => {
  let b: TestBroker;
  let secret: string;
  const key = testSecret("bytes-key");

  beforeAll(async () => {
    b = await startTestBroker({
      policy: `
servers:
  bytes-mcp:
    allow:
      - secrets: ["bytes/key"]
        actions: [read]
`,
    });
    secret = await b.registerServer("bytes-mcp");
    await b.putSecret("bytes/key", key);
  });
  afterAll(() => b.close());

  it("gives an MCP client the same bytes with and without the wrapper", async () => {
    const direct = await converse(NODE_TS[0], [...NODE_TS.slice(1), SERVER], { API_KEY: key });
    const wrapped = await converse(process.execPath, [CLI, "run", "--env", "API_KEY=bytes/key", "--", ...NODE_TS, SERVER], {
      CREDBROKER_URL: b.url,
      CREDBROKER_CLIENT_ID: "bytes-mcp",
      CREDBROKER_CLIENT_SECRET: secret,
    });
    expect(direct.code).toBe(0);
    expect(wrapped.code).toBe(0);
    expect(direct.stdout.toString("utf8").split("\n")).toHaveLength(4);
    expect(direct.stdout.toString("utf8")).toContain("héllo ☃ ☃");
    expect(wrapped.stdout.equals(direct.stdout)).toBe(true);
    expect(wrapped.stderr).toBe("");
  });
});
