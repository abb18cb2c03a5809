/** Secrets, leases and keys through the CLI, as users and scripts run it, against a real `credbroker dev`. */
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testSecret } from "../helpers/broker.js";
import { runCli, startDev, type DevBroker } from "../helpers/cli.js";

const POLICY = `
servers:
  github-mcp:
    allow:
      - secrets: ["github/**"]
        actions: [read]
`;

// The steps build on each other (a read makes the lease listed next; rotation rewraps the versions put before).
describe("credbroker secret / lease / keys against credbroker dev", () => {
  let dev: DevBroker;
  let env: NodeJS.ProcessEnv;
  let url: string;

  beforeAll(async () => {
    dev = await startDev(POLICY);
    ({ env, url } = dev);
  });
  afterAll(async () => {
    expect(await dev.stop()).toBe(0);
  });

  it("dev warns that it is development mode and generates a 0600 master key file in the data dir", () => {
    expect(dev.stderr()).toContain("development mode");
    expect(statSync(join(dev.dir, "data", "master.key")).mode & 0o777).toBe(0o600);
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
    const file = join(dev.dir, "value.txt");
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
});
