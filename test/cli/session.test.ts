/**
 * `credbroker login` keeps an operator token per profile in a 0600 file in a 0700 folder, read
 * from stdin (never argv), verified by the broker before it is stored; `whoami` and `status` use
 * it; the environment wins over it, and its token never goes to a broker other than its own.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runCli, startDev, tempConfigHome, type DevBroker } from "../helpers/cli.js";

/** util-linux `script` gives the CLI a real terminal (a pty), as a person typing has. */
const HAS_SCRIPT = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;

/** Runs the CLI on a pty, types `typed` once the prompt is up, and resolves with what the terminal showed. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv, typed: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const command = [process.execPath, resolve(ROOT, "dist/cli/bin.js"), ...args].map((part) => `'${part}'`).join(" ");
    const child = spawn("script", ["-qec", command, "/dev/null"], { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let shown = "";
    child.stdout.on("data", (chunk: Buffer) => {
      shown += chunk.toString("utf8");
      if (shown.includes("operator token for") && !child.stdin.writableEnded) child.stdin.end(`${typed}\r`);
    });
    child.on("error", reject);
    child.on("close", () => resolvePromise(shown));
  });
}

const POLICY = `
servers:
  example-mcp:
    allow:
      - secrets: ["example/*"]
        actions: [read]
`;

describe("credbroker login, whoami, status", () => {
  let dev: DevBroker;
  let home: ReturnType<typeof tempConfigHome>;
  let adminToken: string;

  beforeAll(async () => {
    dev = await startDev(POLICY);
    adminToken = dev.env.CREDBROKER_TOKEN!;
    home = tempConfigHome();
  });
  afterAll(async () => {
    await dev.stop();
    home.remove();
  });

  it("stores the token read from stdin in a 0600 file in a 0700 folder, once the broker accepted it", async () => {
    const result = await runCli(["login", dev.url, "--json"], { env: home.env, input: `${adminToken}\n` });
    expect(result.code, result.stderr).toBe(0);
    const answer = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(answer).toMatchObject({ profile: "default", url: dev.url, name: "dev-admin", role: "admin", expires_at: null, credentials_file: home.credentialsFile });
    expect(result.stdout + result.stderr).not.toContain(adminToken);
    expect(statSync(home.credentialsFile).mode & 0o777).toBe(0o600);
    expect(statSync(`${home.dir}/credbroker`).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(home.credentialsFile, "utf8"))).toEqual({ profiles: { default: { url: dev.url, token: adminToken } } });
  });

  it("whoami and status use the stored profile", async () => {
    const me = await runCli(["whoami", "--json"], { env: home.env });
    expect(me.code, me.stderr).toBe(0);
    expect(JSON.parse(me.stdout)).toMatchObject({ name: "dev-admin", role: "admin", url: dev.url, profile: "default", expires_at: null });
    const status = await runCli(["status"], { env: home.env });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`broker   ${dev.url}`);
    expect(status.stdout).toMatch(/storage {2}sqlite/);
    expect(status.stdout).toMatch(/\(default\) +local +ok/);
    const json = JSON.parse((await runCli(["status", "--json"], { env: home.env })).stdout) as { storage: string; mounts: unknown[]; policy: { files: number } };
    expect(json).toMatchObject({ storage: "sqlite", url: dev.url, policy: { files: 1 } });
    expect(json.mounts).toEqual([{ path: "", backend: "local", healthy: true, error: null }]);
  });

  it.skipIf(!HAS_SCRIPT)("on a terminal, prompts for the token without echoing it (skipped without util-linux script)", async () => {
    const other = tempConfigHome();
    try {
      const shown = await onTerminal(["login", dev.url, "--profile", "typed"], other.env, adminToken);
      expect(shown).toContain(`operator token for ${dev.url}: `);
      expect(shown).toContain("logged in to");
      expect(shown, "the typed token was echoed").not.toContain(adminToken);
      expect(shown).not.toContain(adminToken.slice(4, 20));
      expect(JSON.parse(readFileSync(other.credentialsFile, "utf8"))).toEqual({ profiles: { typed: { url: dev.url, token: adminToken } } });
    } finally {
      other.remove();
    }
  });

  it("refuses a token the broker does not accept and stores nothing", async () => {
    const before = readFileSync(home.credentialsFile, "utf8");
    const result = await runCli(["login", dev.url, "--profile", "typo", "--json"], { env: home.env, input: `cbo_${"x".repeat(43)}\n` });
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stderr) as { error: { code: string } }).error.code).toBe("unauthorized");
    expect(readFileSync(home.credentialsFile, "utf8")).toBe(before);
  });

  it("keeps profiles apart: --profile before or after the command", async () => {
    const created = JSON.parse((await runCli(["operator", "add", "login-auditor", "--role", "auditor", "--json"], { env: dev.env })).stdout) as { token: string };
    const login = await runCli(["--profile", "audit", "login", dev.url], { env: home.env, input: created.token });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain("as login-auditor (role auditor)");
    for (const args of [["--profile", "audit", "whoami", "--json"], ["whoami", "--profile", "audit", "--json"]]) {
      expect(JSON.parse((await runCli(args, { env: home.env })).stdout)).toMatchObject({ name: "login-auditor", profile: "audit" });
    }
    expect(JSON.parse((await runCli(["whoami", "--json"], { env: home.env })).stdout)).toMatchObject({ name: "dev-admin" });
    expect(JSON.parse((await runCli(["whoami", "--json"], { env: { ...home.env, CREDBROKER_PROFILE: "audit" } })).stdout)).toMatchObject({ name: "login-auditor" });
    const bad = await runCli(["--profile", "../x", "whoami", "--json"], { env: home.env });
    expect(bad.code).toBe(2);
  });

  it("the environment wins over the stored profile", async () => {
    const result = await runCli(["whoami", "--json"], { env: { ...home.env, CREDBROKER_TOKEN: `cbo_${"y".repeat(43)}` } });
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stderr) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  it("never sends the profile's token to a broker other than the profile's own", async () => {
    const result = await runCli(["whoami", "--json"], { env: { ...home.env, CREDBROKER_URL: "http://127.0.0.1:9" } });
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stderr) as { error: { code: string } }).error.code).toBe("no_token");
  });

  it("refuses a credentials file other users can read", async () => {
    chmodSync(home.credentialsFile, 0o644);
    try {
      const result = await runCli(["whoami", "--json"], { env: home.env });
      expect(result.code).toBe(1);
      expect((JSON.parse(result.stderr) as { error: { code: string; message: string } }).error).toMatchObject({ code: "credentials_file_insecure" });
    } finally {
      chmodSync(home.credentialsFile, 0o600);
    }
  });

  it("refuses a credentials file that is not JSON, and an empty token at login", async () => {
    const before = readFileSync(home.credentialsFile, "utf8");
    writeFileSync(home.credentialsFile, "{not json");
    try {
      expect(JSON.parse((await runCli(["whoami", "--json"], { env: home.env })).stderr)).toMatchObject({ error: { code: "credentials_file_invalid" } });
    } finally {
      writeFileSync(home.credentialsFile, before);
    }
    const empty = await runCli(["login", dev.url, "--json"], { env: home.env, input: "\n" });
    expect(empty.code).toBe(2);
  });

  it("takes the token from CREDBROKER_TOKEN when it is set, and refuses a URL with a password in it", async () => {
    const other = tempConfigHome();
    try {
      const result = await runCli(["login", dev.url], { env: { ...other.env, CREDBROKER_TOKEN: adminToken } });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(readFileSync(other.credentialsFile, "utf8"))).toEqual({ profiles: { default: { url: dev.url, token: adminToken } } });
      const withPassword = new URL(dev.url);
      withPassword.password = "pw";
      expect((await runCli(["login", withPassword.toString()], { env: { ...other.env, CREDBROKER_TOKEN: adminToken } })).code).toBe(2);
    } finally {
      other.remove();
    }
  });
});
