/** The CLI as users and scripts run it: real child processes against a real `credbroker dev`. */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, statSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli, stop } from "../helpers/cli.js";
import { testSecret } from "../helpers/broker.js";

const POLICY = `
servers:
  github-mcp:
    allow:
      - secrets: ["github/**"]
        actions: [read]
`;

describe("credbroker CLI against credbroker dev", () => {
  let dir: string;
  let dev: ChildProcess;
  let devStderr: () => string;
  let env: NodeJS.ProcessEnv;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-cli-"));
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "policies", "servers.yaml"), POLICY);
    const started = await startCli(["dev", "--json", "--port", "0", "--data-dir", join(dir, "data"), "--policies", join(dir, "policies")], { cwd: dir });
    dev = started.child;
    devStderr = started.stderr;
    const ready = JSON.parse(started.firstLine) as { url: string; admin_token: string };
    url = ready.url;
    env = { CREDBROKER_URL: ready.url, CREDBROKER_TOKEN: ready.admin_token };
    expect(started.stderr()).toContain("development mode");
  });
  afterAll(async () => {
    expect(await stop(dev)).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("dev generates a 0600 master key file in the data dir", () => {
    expect(statSync(join(dir, "data", "master.key")).mode & 0o777).toBe(0o600);
  });

  it("registers a server, stores a value byte for byte, and a server reads it with curl-like HTTP", async () => {
    const added = await runCli(["server", "add", "github-mcp", "--json"], { env });
    expect(added.code).toBe(0);
    const { client_id, client_secret } = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
    expect(client_id).toBe("github-mcp");

    const value = Buffer.concat([Buffer.from(testSecret("cli")), Buffer.from([0x00, 0xff, 0x0a, 0x20])]);
    const put = await runCli(["secret", "put", "github/token", "--value-stdin", "--json"], { env, input: value });
    expect(put.code).toBe(0);
    expect(JSON.parse(put.stdout)).toEqual({ path: "github/token", version: 1 });

    const got = await runCli(["secret", "get", "github/token"], { env });
    expect(got.code).toBe(0);
    expect(got.stdoutBytes.equals(value)).toBe(true);

    const token = await fetch(`${url}/v1/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id, client_secret }),
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const read = await fetch(`${url}/v1/secrets/github/token`, { headers: { authorization: `Bearer ${token.access_token}` } }).then((r) => r.json() as Promise<{ value: string; encoding: string }>);
    expect(read.encoding).toBe("base64");
    expect(Buffer.from(read.value, "base64").equals(value)).toBe(true);

    const who = await runCli(["audit", "who-accessed", "github/token", "--since", "1d", "--json"], { env });
    expect(who.code).toBe(0);
    const rows = JSON.parse(who.stdout) as Array<{ server: string; count: number; first: string; last: string; outcomes: { allowed: number; denied: number } }>;
    const server = rows.find((row) => row.server === "github-mcp");
    expect(server).toMatchObject({ count: 1, outcomes: { allowed: 1, denied: 0 } });
    expect(Date.parse(server!.first)).not.toBeNaN();
    expect(rows.find((row) => row.server === "dev-admin")).toMatchObject({ count: 1 });
  });

  it("puts generated values and from files, lists and shows versions", async () => {
    const file = join(dir, "value.txt");
    writeFileSync(file, testSecret("file"));
    expect((await runCli(["secret", "put", "github/file", "--from-file", file], { env })).code).toBe(0);
    expect((await runCli(["secret", "put", "github/file", "--generate", "32"], { env })).code).toBe(0);
    const versions = await runCli(["secret", "versions", "github/file", "--json"], { env });
    expect((JSON.parse(versions.stdout) as Array<{ version: number }>).map((v) => v.version)).toEqual([1, 2]);
    const generated = await runCli(["secret", "get", "github/file", "--json"], { env });
    expect((JSON.parse(generated.stdout) as { value: string }).value).toMatch(/^[A-Za-z0-9]{32}$/);
    const list = await runCli(["secret", "list", "github/"], { env });
    expect(list.stdout).toContain("github/file");
    expect(list.stdout).not.toContain(testSecret("x").slice(0, 13));
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

  it("lists and revokes leases by server", async () => {
    const list = await runCli(["lease", "list", "--server", "github-mcp", "--json"], { env });
    expect((JSON.parse(list.stdout) as unknown[]).length).toBeGreaterThan(0);
    const revoked = await runCli(["lease", "revoke", "--server", "github-mcp", "--json"], { env });
    expect((JSON.parse(revoked.stdout) as { revoked: number }).revoked).toBeGreaterThan(0);
    expect(JSON.parse((await runCli(["lease", "list", "--server", "github-mcp", "--json"], { env })).stdout)).toEqual([]);
  });

  it("rotates the master key while serving; old versions still decrypt", async () => {
    const before = (await runCli(["secret", "get", "github/token", "--json"], { env })).stdout;
    const rotated = await runCli(["keys", "rotate", "--json"], { env });
    expect(rotated.code).toBe(0);
    expect((JSON.parse(rotated.stdout) as { rewrapped: number }).rewrapped).toBeGreaterThanOrEqual(3);
    expect((await runCli(["secret", "get", "github/token", "--json"], { env })).stdout).toBe(before);
    expect((await runCli(["keys", "rotate", "--signing", "--json"], { env })).code).toBe(0);
    const jwks = (await fetch(`${url}/.well-known/jwks.json`).then((r) => r.json())) as { keys: unknown[] };
    expect(jwks.keys).toHaveLength(2);
  });

  it("reloads policies on SIGHUP, and audits the reload", async () => {
    dev.kill("SIGHUP");
    const deadline = Date.now() + 15_000;
    while (!devStderr().includes("policies reloaded") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(devStderr()).toContain("policies reloaded");
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

describe("credbroker policy check / explain (no broker needed)", () => {
  it("exits 1 with file:line:column for every problem", async () => {
    const dir = mkdtempSync(join(tmpdir(), "credbroker-policy-"));
    writeFileSync(join(dir, "bad.yaml"), `servers:\n  github-mcp:\n    allow:\n      - secrets: ["../etc"]\n        actions: [read]\n        max_ttl: forever\n`);
    const result = await runCli(["policy", "check", dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/bad\.yaml:4:\d+: /);
    expect(result.stderr).toMatch(/bad\.yaml:6:\d+: /);
    rmSync(dir, { recursive: true, force: true });
  });

  it("names the deciding rule", async () => {
    const dir = mkdtempSync(join(tmpdir(), "credbroker-policy-"));
    writeFileSync(join(dir, "p.yaml"), POLICY);
    const allowed = await runCli(["policy", "explain", "--server", "github-mcp", "--secret", "github/token", "--action", "read", "--dir", dir]);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/ALLOW: .*p\.yaml:5/);
    const denied = await runCli(["policy", "explain", "--server", "other", "--secret", "github/token", "--dir", dir]);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/DENY/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("credbroker init / serve / migrate", () => {
  it("initialises once, prints the admin token, refuses a second init, then serves", async () => {
    const dir = mkdtempSync(join(tmpdir(), "credbroker-init-"));
    const config = join(dir, "credbroker.yaml");
    writeFileSync(config, `listen: 127.0.0.1:0\ndatabase: sqlite:./db/credbroker.db\npolicies: ./policies\nmaster_key_file: ./master.key\n`);
    expect((await runCli(["migrate", "--config", config, "--json"])).stdout).toContain("0001_init.sql");
    const init = await runCli(["init", "--config", config, "--json"]);
    expect(init.code).toBe(0);
    const { admin_token } = JSON.parse(init.stdout) as { admin_token: string };
    expect(admin_token).toMatch(/^cbo_/);
    expect(statSync(join(dir, "master.key")).mode & 0o777).toBe(0o600);
    const again = await runCli(["init", "--config", config, "--json"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already initialised");
    rmSync(dir, { recursive: true, force: true });
  });

  it("serve refuses an uninitialised store", async () => {
    const dir = mkdtempSync(join(tmpdir(), "credbroker-serve-"));
    const config = join(dir, "credbroker.yaml");
    writeFileSync(config, `listen: 127.0.0.1:0\ndatabase: sqlite:./db.sqlite\nmaster_key_file: ./master.key\n`);
    const result = await runCli(["serve", "--config", config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/init/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("rejects unknown config keys with the key named (exit 1)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "credbroker-cfg-"));
    const config = join(dir, "credbroker.yaml");
    writeFileSync(config, `listen: 127.0.0.1:0\ndatabse: sqlite:./x.db\n`);
    const result = await runCli(["init", "--config", config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("databse");
    rmSync(dir, { recursive: true, force: true });
  });
});
