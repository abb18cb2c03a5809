/**
 * `credbroker policy`: `check` refuses a folder that holds no policy at all (a typo in a CI
 * pipeline must not pass as "valid"), and `explain` / `reload` ask the running broker when
 * CREDBROKER_URL is set, so an operator sees the policy that is enforced, not a local copy.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli, stop } from "../helpers/cli.js";

const GRANT = `
servers:
  github-mcp:
    allow:
      - secrets: ["github/token"]
        actions: [read]
`;

describe("credbroker policy check", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-policy-check-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("fails on a folder that does not exist", async () => {
    const result = await runCli(["policy", "check", join(dir, "nope")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("does not exist");
  });

  it("fails on a folder with no policy file, in JSON too", async () => {
    mkdirSync(join(dir, "empty"));
    writeFileSync(join(dir, "empty", "README.md"), "not a policy");
    const human = await runCli(["policy", "check", join(dir, "empty")]);
    expect(human.code).toBe(1);
    expect(human.stderr).toContain("no policy file");
    const json = await runCli(["policy", "check", join(dir, "empty"), "--json"]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problems: [{ message: expect.stringContaining("no policy file") }] });
  });

  it("passes a folder with a valid file", async () => {
    mkdirSync(join(dir, "good"));
    writeFileSync(join(dir, "good", "servers.yaml"), GRANT);
    const result = await runCli(["policy", "check", join(dir, "good")]);
    expect(result.code).toBe(0);
  });
});

describe("credbroker policy explain and reload against the running broker", () => {
  let dir: string;
  let dev: ChildProcess;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-policy-remote-"));
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "policies", "servers.yaml"), GRANT);
    // The working directory holds a different local policies/ folder: explain must not read it.
    mkdirSync(join(dir, "cwd", "policies"), { recursive: true });
    writeFileSync(join(dir, "cwd", "policies", "local.yaml"), "servers: {}\n");
    const started = await startCli(["dev", "--json", "--port", "0", "--data-dir", join(dir, "data"), "--policies", join(dir, "policies")], { cwd: dir });
    dev = started.child;
    const ready = JSON.parse(started.firstLine) as { url: string; admin_token: string };
    env = { CREDBROKER_URL: ready.url, CREDBROKER_TOKEN: ready.admin_token };
  });
  afterAll(async () => {
    expect(await stop(dev)).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("explain answers with the broker's policy set", async () => {
    const result = await runCli(["policy", "explain", "--server", "github-mcp", "--secret", "github/token", "--json"], { env, cwd: join(dir, "cwd") });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ decision: { allowed: true } });
    const denied = await runCli(["policy", "explain", "--server", "github-mcp", "--secret", "github/admin"], { env, cwd: join(dir, "cwd") });
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/^DENY/);
  });

  it("explain --dir still evaluates a local folder", async () => {
    const result = await runCli(["policy", "explain", "--server", "github-mcp", "--secret", "github/token", "--dir", join(dir, "cwd", "policies")], { env });
    expect(result.code).toBe(1);
  });

  it("reload applies an edit now, and refuses an invalid one, keeping the last good set", async () => {
    writeFileSync(join(dir, "policies", "servers.yaml"), `${GRANT}      - secrets: ["github/admin"]\n        actions: [read]\n`);
    const reloaded = await runCli(["policy", "reload", "--json"], { env });
    expect(reloaded.code).toBe(0);
    expect(JSON.parse(reloaded.stdout)).toMatchObject({ ok: true });
    const allowed = await runCli(["policy", "explain", "--server", "github-mcp", "--secret", "github/admin", "--json"], { env });
    expect(JSON.parse(allowed.stdout)).toMatchObject({ decision: { allowed: true } });

    writeFileSync(join(dir, "policies", "servers.yaml"), "servers: [oops\n");
    const refused = await runCli(["policy", "reload"], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("servers.yaml");
    const still = await runCli(["policy", "explain", "--server", "github-mcp", "--secret", "github/admin", "--json"], { env });
    expect(JSON.parse(still.stdout)).toMatchObject({ decision: { allowed: true } });
  });
});
