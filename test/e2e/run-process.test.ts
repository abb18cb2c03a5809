/**
 * End to end, wrapper path: `credbroker run` (the compiled CLI) fetches secrets from a real broker
 * and starts a command with them, as a process wrapper: environment, stdio, exit status, signals.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { node, RUN_TICKETS, startRunBroker, type RunBroker } from "../helpers/run-wrapper.js";
import { waitFor } from "../helpers/wait.js";
import { CLI, runProcess } from "./mcp.js";

describe("credbroker run as a process wrapper", () => {
  let r: RunBroker;
  beforeAll(async () => {
    r = await startRunBroker();
  });
  afterAll(() => r.b.close());

  it("injects the values, removes its own credentials, and substitutes ${NAME} in arguments without a shell", async () => {
    const script = `const creds = Object.keys(process.env).filter((k) => k.startsWith("CREDBROKER_"));
      process.stdout.write(JSON.stringify({ creds, same: process.argv[1] === process.env.TICKETS_API_KEY, literal: process.argv[2], length: process.env.TICKETS_API_KEY.length }));`;
    const result = await r.run([...RUN_TICKETS, ...node(script, "${TICKETS_API_KEY}", "${HOME} $(id) ;")]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.toString())).toEqual({ creds: [], same: true, literal: "${HOME} $(id) ;", length: r.key.length });
  });

  it("passes stdin to stdout byte for byte and writes nothing of its own to stdout", async () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 10, 0x80, ...Buffer.from("not json\n{\"jsonrpc\":\"2.0\"}\n")]);
    const result = await runProcess(process.execPath, [CLI, ...RUN_TICKETS, ...node("process.stdin.pipe(process.stdout)")], r.env(), bytes.toString("latin1"));
    expect(result.code).toBe(0);
    expect(result.stdout.equals(Buffer.from(bytes.toString("latin1"), "utf8"))).toBe(true);
    const inherited = await runProcess(process.execPath, [CLI, "run", "--stdio", "inherit", "--env", "TICKETS_API_KEY=tickets/api-key", "--", ...node("process.stdin.pipe(process.stdout)")], r.env(), "straight through\n");
    expect(inherited.code).toBe(0);
    expect(inherited.stdout.toString()).toBe("straight through\n");
  });

  it("exits with the command's code, or 128 + the signal that ended it", async () => {
    expect((await r.run([...RUN_TICKETS, ...node("process.exit(7)")])).code).toBe(7);
    expect((await r.run([...RUN_TICKETS, ...node("process.kill(process.pid, 'SIGKILL')")])).code).toBe(137);
  });

  it("forwards SIGTERM to the command and exits with its status", async () => {
    const wrapper = r.spawnRun([...RUN_TICKETS, ...node("process.on('SIGTERM', () => process.exit(42)); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);")]);
    await waitFor("the command to start", () => wrapper.out().includes("ready"));
    wrapper.child.kill("SIGTERM");
    expect(await wrapper.code).toBe(42);
  });

  it("exits 1 naming the secret when a secret is denied at start", async () => {
    const result = await runProcess(process.execPath, [CLI, ...RUN_TICKETS, ...node("process.exit(0)")], r.env("stranger-mcp", r.strangerSecret));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("TICKETS_API_KEY (tickets/api-key)");
    expect(result.stdout.length).toBe(0);
  });

  it("exits 1 when the broker cannot be reached within the start timeout", async () => {
    const result = await runProcess(process.execPath, [CLI, "run", "--start-timeout", "1", "--env", "A=tickets/api-key", "--", ...node("0")], { ...r.env(), CREDBROKER_URL: "http://127.0.0.1:9" });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach the broker/);
  });

  it("exits 2 on usage errors", async () => {
    expect((await r.run(["run", "--", ...node("0")])).code).toBe(2);
    expect((await r.run(["run", "--env", "not a name=x", "--", ...node("0")])).code).toBe(2);
    expect((await r.run(["run", "--env", "A=tickets/api-key", "--on-change", "sometimes", "--", ...node("0")])).code).toBe(2);
    expect((await r.run(["run", "--env", "A=tickets/api-key"])).code).toBe(2);
    expect((await runProcess(process.execPath, [CLI, ...RUN_TICKETS, ...node("0")], { CREDBROKER_URL: r.b.url })).code).toBe(2);
  });
});
