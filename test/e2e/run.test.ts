/**
 * End to end, wrapper path: `credbroker run` (the compiled CLI) fetches secrets from a real broker
 * and starts an unmodified MCP server with them; a real MCP client talks to it through the wrapper.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/wait.js";
import { CLI, connectMcp, fingerprint, NODE_TS, runProcess, TICKET_SERVER_ENV, type McpSession, type Ticket } from "./mcp.js";

const POLICY = `
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

const RUN_TICKETS = ["run", "--env", "TICKETS_API_KEY=tickets/api-key", "--"];
const node = (script: string, ...args: string[]) => [process.execPath, "-e", script, ...args];

describe("credbroker run", () => {
  let b: TestBroker;
  let ticketSecret: string;
  let strangerSecret: string;
  let key: string;

  const env = (id = "ticket-mcp", secret = ticketSecret) => ({ CREDBROKER_URL: b.url, CREDBROKER_CLIENT_ID: id, CREDBROKER_CLIENT_SECRET: secret });
  const run = (args: string[], input = "", extraEnv: Record<string, string> = {}) => runProcess(process.execPath, [CLI, ...args], { ...env(), ...extraEnv }, input);
  const connectThroughRun = (extra: string[] = []) =>
    connectMcp(process.execPath, [CLI, "run", ...extra, "--env", "TICKETS_API_KEY=tickets/api-key", "--", ...NODE_TS, TICKET_SERVER_ENV], env());

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY });
    ticketSecret = await b.registerServer("ticket-mcp");
    strangerSecret = await b.registerServer("stranger-mcp");
    key = testSecret("tickets-key");
    await b.putSecret("tickets/api-key", key);
    await b.putSecret("tickets/other", testSecret("other"));
  });
  afterAll(() => b.close());

  describe("as a process wrapper", () => {
    it("injects the values, removes its own credentials, and substitutes ${NAME} in arguments without a shell", async () => {
      const script = `const creds = Object.keys(process.env).filter((k) => k.startsWith("CREDBROKER_"));
        process.stdout.write(JSON.stringify({ creds, same: process.argv[1] === process.env.TICKETS_API_KEY, literal: process.argv[2], length: process.env.TICKETS_API_KEY.length }));`;
      const result = await run([...RUN_TICKETS, ...node(script, "${TICKETS_API_KEY}", "${HOME} $(id) ;")]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout.toString())).toEqual({ creds: [], same: true, literal: "${HOME} $(id) ;", length: key.length });
    });

    it("passes stdin to stdout byte for byte and writes nothing of its own to stdout", async () => {
      const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 10, 0x80, ...Buffer.from("not json\n{\"jsonrpc\":\"2.0\"}\n")]);
      const result = await runProcess(process.execPath, [CLI, ...RUN_TICKETS, ...node("process.stdin.pipe(process.stdout)")], env(), bytes.toString("latin1"));
      expect(result.code).toBe(0);
      expect(result.stdout.equals(Buffer.from(bytes.toString("latin1"), "utf8"))).toBe(true);
      const inherited = await runProcess(process.execPath, [CLI, "run", "--stdio", "inherit", "--env", "TICKETS_API_KEY=tickets/api-key", "--", ...node("process.stdin.pipe(process.stdout)")], env(), "straight through\n");
      expect(inherited.code).toBe(0);
      expect(inherited.stdout.toString()).toBe("straight through\n");
    });

    it("exits with the command's code, or 128 + the signal that ended it", async () => {
      expect((await run([...RUN_TICKETS, ...node("process.exit(7)")])).code).toBe(7);
      expect((await run([...RUN_TICKETS, ...node("process.kill(process.pid, 'SIGKILL')")])).code).toBe(137);
    });

    it("forwards SIGTERM to the command and exits with its status", async () => {
      const child = spawn(process.execPath, [CLI, ...RUN_TICKETS, ...node("process.on('SIGTERM', () => process.exit(42)); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);")], {
        env: { PATH: process.env.PATH ?? "", ...env() },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      await waitFor("the command to start", () => out.includes("ready"));
      const code = new Promise<number | null>((resolve) => child.on("close", resolve));
      child.kill("SIGTERM");
      expect(await code).toBe(42);
    });

    it("exits 1 naming the secret when a secret is denied at start", async () => {
      const result = await runProcess(process.execPath, [CLI, ...RUN_TICKETS, ...node("process.exit(0)")], env("stranger-mcp", strangerSecret));
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("TICKETS_API_KEY (tickets/api-key)");
      expect(result.stdout.length).toBe(0);
    });

    it("exits 1 when the broker cannot be reached within the start timeout", async () => {
      const result = await runProcess(process.execPath, [CLI, "run", "--start-timeout", "1", "--env", "A=tickets/api-key", "--", ...node("0")], { ...env(), CREDBROKER_URL: "http://127.0.0.1:9" });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/cannot reach the broker/);
    });

    it("sends the chosen signal instead of restarting with --on-change signal:SIGHUP", async () => {
      await b.putSecret("tickets/other", testSecret("other-v1"));
      const script = "process.on('SIGHUP', () => process.stdout.write('hup\\n')); process.stdout.write('ready ' + process.pid + '\\n'); setInterval(() => {}, 1000);";
      const child = spawn(process.execPath, [CLI, "run", "--on-change", "signal:SIGHUP", "--env", "OTHER=tickets/other", "--", ...node(script)], {
        env: { PATH: process.env.PATH ?? "", ...env() },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
      const code = new Promise<number | null>((resolve) => child.on("close", resolve));
      try {
        await waitFor("the command to start", () => out.includes("ready") || (err.length > 0 && !err.includes("warn") && Promise.reject(new Error(err))));
        await waitFor("the event stream", async () => (await b.admin<{ leases: Array<{ secret: string; state: string }> }>("GET", "/v1/admin/leases?server=ticket-mcp")).body.leases.some((l) => l.secret === "tickets/other" && l.state === "active"));
        await waitFor("the signal", async () => {
          if (out.includes("hup")) return true;
          await b.putSecret("tickets/other", testSecret("other-next"));
          await new Promise((r) => setTimeout(r, 500));
          return out.includes("hup");
        }, 30_000);
        expect(out.match(/ready/g)).toHaveLength(1);
        expect(err).toContain("new value for OTHER: sending SIGHUP");
      } finally {
        child.kill("SIGTERM");
        await code;
      }
    });

    it.each([
      { mode: "exit", expectation: "stops the command and exits with its status" },
      { mode: "none", expectation: "leaves the command running untouched" },
    ])("with --on-change $mode, on a new version it $expectation", async ({ mode }) => {
      await b.putSecret("tickets/other", testSecret(`other-${mode}`));
      const script = "process.on('SIGTERM', () => process.exit(9)); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);";
      const child = spawn(process.execPath, [CLI, "run", "--on-change", mode, "--env", "OTHER=tickets/other", "--", ...node(script)], {
        env: { PATH: process.env.PATH ?? "", ...env() },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
      let exitCode: number | null | undefined;
      const code = new Promise<number | null>((resolve) => child.on("close", (c) => resolve((exitCode = c))));
      try {
        await waitFor("the command to start", () => out.includes("ready"));
        await waitFor("the wrapper to hear of a new version", async () => {
          if (err.includes("new value for OTHER")) return true;
          await b.putSecret("tickets/other", testSecret(`other-${mode}-next`));
          await new Promise((r) => setTimeout(r, 500));
          return err.includes("new value for OTHER");
        }, 30_000);
        if (mode === "exit") {
          expect(await code).toBe(9);
          expect(err).toContain("new value for OTHER: stopping");
        } else {
          await new Promise((r) => setTimeout(r, 1000));
          expect(exitCode).toBeUndefined();
          expect(out.match(/ready/g)).toHaveLength(1);
        }
      } finally {
        child.kill("SIGTERM");
        await code;
      }
    });

    it("exits 2 on usage errors", async () => {
      expect((await run(["run", "--", ...node("0")])).code).toBe(2);
      expect((await run(["run", "--env", "not a name=x", "--", ...node("0")])).code).toBe(2);
      expect((await run(["run", "--env", "A=tickets/api-key", "--on-change", "sometimes", "--", ...node("0")])).code).toBe(2);
      expect((await run(["run", "--env", "A=tickets/api-key"])).code).toBe(2);
      expect((await runProcess(process.execPath, [CLI, ...RUN_TICKETS, ...node("0")], { CREDBROKER_URL: b.url })).code).toBe(2);
    });
  });

  describe("with an MCP server over stdio", () => {
    let session: McpSession;
    beforeAll(async () => {
      session = await connectThroughRun();
    });
    afterAll(() => session?.close());

    it("serves tool calls with the injected key", async () => {
      expect(await session.lookup("T-1")).toMatchObject({ ticket_id: "T-1", key_sha256_prefix: fingerprint(key), key_length: key.length });
    });

    it("restarts the server with a rotated key, keeping the client's session", async () => {
      const before = await session.lookup("T-2");
      const rotated = testSecret("tickets-key-v2");
      await b.putSecret("tickets/api-key", rotated);
      const after = await waitFor("the restarted server", async () => {
        const ticket = await session.lookup("T-3");
        return ticket.key_sha256_prefix === fingerprint(rotated) && ticket;
      });
      expect(after.server_pid).not.toBe(before.server_pid);
      expect((await session.client.listTools()).tools.map((tool) => tool.name)).toEqual(["lookup_ticket"]);
      expect(session.stderr()).toContain("new value for TICKETS_API_KEY: restarting the command");
      expect(session.stderr()).not.toContain(rotated);
      key = rotated;
    });

    it("answers every call of a client calling every ~200 ms across a rotation-triggered restart", async () => {
      const first = await session.lookup("warm-up");
      const calls: Array<Promise<Ticket>> = [];
      let stop = false;
      const ticker = (async () => {
        for (let i = 0; !stop; i += 1) {
          calls.push(session.lookup(`T-${i}`));
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })();
      await waitFor("a few calls before the rotation", () => calls.length >= 3);
      const rotated = testSecret("tickets-key-v3");
      await b.putSecret("tickets/api-key", rotated);
      await waitFor(
        "a call answered by the new server",
        async () => (await Promise.allSettled(calls)).some((r) => r.status === "fulfilled" && r.value.key_sha256_prefix === fingerprint(rotated)),
        30_000,
        200,
      );
      const countAfter = calls.length;
      await waitFor("a few calls after the restart", () => calls.length >= countAfter + 3);
      stop = true;
      await ticker;
      const results = await Promise.allSettled(calls);
      const failures = results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason));
      expect(failures).toEqual([]);
      const pids = new Set(results.map((r) => (r as PromiseFulfilledResult<Ticket>).value.server_pid));
      expect(pids.has(first.server_pid)).toBe(true);
      expect(pids.size).toBe(2);
      key = rotated;
    });

    it("stops the server and exits 1 when its key is revoked and may not be fetched again", async () => {
      const doomed = await connectThroughRun();
      try {
        await doomed.lookup("T-9");
        b.writePolicy("test.yaml", POLICY.replace(`["tickets/api-key", "tickets/other"]`, `["tickets/other"]`));
        await b.admin("POST", "/v1/admin/leases/revoke", { secret: "tickets/api-key" });
        await doomed.closed;
        expect(doomed.stderr()).toMatch(/stopping .*TICKETS_API_KEY may no longer be used/);
        expect(doomed.stderr()).not.toContain(key);
      } finally {
        b.writePolicy("test.yaml", POLICY);
        await doomed.close();
      }
    });
  });
});
