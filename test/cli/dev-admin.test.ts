/** Operators, policy reload, audit and exit codes through the CLI, against a real `credbroker dev`. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startDev, type DevBroker } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";

const POLICY = `
servers:
  github-mcp:
    allow:
      - secrets: ["github/**"]
        actions: [read]
`;

describe("credbroker operator / policy reload / audit against credbroker dev", () => {
  let dev: DevBroker;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dev = await startDev(POLICY);
    ({ env } = dev);
  });
  afterAll(async () => {
    expect(await dev.stop()).toBe(0);
  });

  it("creates operators with roles; an auditor can query but not write", async () => {
    const added = await runCli(["operator", "add", "alice", "--role", "auditor", "--json"], { env });
    expect(added.code).toBe(0);
    const { name, token } = JSON.parse(added.stdout) as { name: string; token: string };
    expect(name).toBe("alice");
    const auditorEnv = { ...env, CREDBROKER_TOKEN: token };
    expect((await runCli(["audit", "query", "--action", "secret.read", "--format", "csv"], { env: auditorEnv })).stdout.split("\n")[0]).toMatch(/^seq,time,actor/);
    const denied = await runCli(["secret", "put", "x/y", "--generate", "16"], { env: auditorEnv });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/lacks the write permission/);
  });

  it("reloads policies on SIGHUP, and audits the reload", async () => {
    dev.child.kill("SIGHUP");
    // A real process handles the signal in its own time: wait for its line, never for a fixed delay.
    await waitFor("the reload line", () => dev.stderr().includes("policies reloaded"), 15_000, 100);
    expect(dev.stderr()).toContain("policies reloaded");
    const reloads = await runCli(["audit", "query", "--action", "policy.reload", "--json"], { env });
    expect((JSON.parse(reloads.stdout) as Array<{ outcome: string }>).some((r) => r.outcome === "allowed")).toBe(true);
  });

  it("audit verify says the chain is intact", async () => {
    const verify = await runCli(["audit", "verify", "--json"], { env });
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, problems: [] });
  });

  it("exits 1 naming the failure, 2 on usage errors", async () => {
    const missing = await runCli(["secret", "get", "github/nothing"], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("github/nothing");
    expect((await runCli(["secret", "put", "a/b"], { env })).code).toBe(2);
    expect((await runCli(["no-such-command"], { env })).code).toBe(2);
    const unreachable = await runCli(["server", "list"], { env: { ...env, CREDBROKER_URL: "http://127.0.0.1:9" } });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("cannot reach the broker");
  });
});
