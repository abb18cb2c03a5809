/**
 * Keys for private_key_jwt from the CLI: `server keygen` makes an Ed25519 pair, keeps the private
 * half in a 0600 file and registers the public half; `server add --public-key` takes PEM or JWK and
 * refuses private material before anything is sent.
 */
import type { ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrokerClient } from "../../src/sdk/client.js";
import { runCli, startCli, stop } from "../helpers/cli.js";
import { testSecret } from "../helpers/broker.js";

const POLICY = `
servers:
  keyed-mcp:
    allow:
      - secrets: ["keyed/**"]
        actions: [read]
  pem-mcp:
    allow:
      - secrets: ["keyed/**"]
        actions: [read]
`;

describe("credbroker server keygen and --public-key", () => {
  let dir: string;
  let dev: ChildProcess;
  let env: NodeJS.ProcessEnv;
  let url: string;
  const value = testSecret("keygen");

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-keys-"));
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "policies", "servers.yaml"), POLICY);
    const started = await startCli(["dev", "--json", "--port", "0", "--data-dir", join(dir, "data"), "--policies", join(dir, "policies")], { cwd: dir });
    dev = started.child;
    const ready = JSON.parse(started.firstLine) as { url: string; admin_token: string };
    url = ready.url;
    env = { CREDBROKER_URL: ready.url, CREDBROKER_TOKEN: ready.admin_token };
    expect((await runCli(["secret", "put", "keyed/token", "--value-stdin"], { env, input: value })).code).toBe(0);
  });
  afterAll(async () => {
    expect(await stop(dev)).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("keygen writes a 0600 private key, registers a key-only server, and the SDK reads with it", async () => {
    const result = await runCli(["server", "keygen", "keyed-mcp", "--json"], { env, cwd: dir });
    expect(result.code).toBe(0);
    const made = JSON.parse(result.stdout) as { client_id: string; private_key_file: string; kid: string; public_jwk: Record<string, unknown> };
    expect(made.client_id).toBe("keyed-mcp");
    expect(made.private_key_file).toBe(join(dir, "keyed-mcp.key"));
    expect(statSync(made.private_key_file).mode & 0o777).toBe(0o600);
    expect(readFileSync(made.private_key_file, "utf8")).toContain("-----BEGIN PRIVATE KEY-----");
    expect(made.public_jwk).toMatchObject({ kty: "OKP", crv: "Ed25519", kid: made.kid });
    expect(made.public_jwk).not.toHaveProperty("d");

    const client = new BrokerClient({ url, clientId: "keyed-mcp", privateKeyFile: made.private_key_file, events: false });
    try {
      const secrets = await client.load({ TOKEN: "keyed/token" });
      expect(secrets.get("TOKEN")).toBe(value);
    } finally {
      await client.close();
    }

    // Key only: no client secret exists to guess.
    const servers = JSON.parse((await runCli(["server", "list", "--json"], { env })).stdout) as Array<{ id: string }>;
    expect(servers.map((server) => server.id)).toContain("keyed-mcp");
  });

  it("keygen never overwrites a key file, and registers nothing then", async () => {
    const result = await runCli(["server", "keygen", "keyed-mcp", "--json"], { env, cwd: dir });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { message: expect.stringContaining("already exists") } });
  });

  it("add --public-key takes a PEM public key", async () => {
    const pair = generateKeyPairSync("ed25519");
    writeFileSync(join(dir, "pem.pub"), pair.publicKey.export({ type: "spki", format: "pem" }));
    const added = await runCli(["server", "add", "pem-mcp", "--public-key", join(dir, "pem.pub"), "--no-secret", "--json"], { env });
    expect(added.code).toBe(0);
    const client = new BrokerClient({ url, clientId: "pem-mcp", privateKey: pair.privateKey, events: false });
    try {
      expect((await client.load({ TOKEN: "keyed/token" })).get("TOKEN")).toBe(value);
    } finally {
      await client.close();
    }
  });

  it.each([
    ["a private PEM", () => generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString()],
    ["a private JWK", () => JSON.stringify(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }))],
  ])("add --public-key refuses %s before sending it", async (_what, make) => {
    const file = join(dir, `private-${Math.random().toString(36).slice(2)}.key`);
    writeFileSync(file, make());
    const added = await runCli(["server", "add", "never-mcp", "--public-key", file, "--json"], { env });
    expect(added.code).toBe(1);
    expect(JSON.parse(added.stderr)).toMatchObject({ error: { message: expect.stringContaining("private key") } });
    const servers = JSON.parse((await runCli(["server", "list", "--json"], { env })).stdout) as Array<{ id: string }>;
    expect(servers.map((server) => server.id)).not.toContain("never-mcp");
  });

  it("rotate-credentials --public-key --add keeps the client secret working; without --add the key replaces it", async () => {
    const added = JSON.parse((await runCli(["server", "add", "rollover-mcp", "--json"], { env })).stdout) as { client_secret: string };
    const pair = generateKeyPairSync("ed25519");
    writeFileSync(join(dir, "rollover.pub"), pair.publicKey.export({ type: "spki", format: "pem" }));
    const token = (secret: string) =>
      fetch(new URL("/v1/auth/token", url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ grant_type: "client_credentials", client_id: "rollover-mcp", client_secret: secret }) }).then(
        async (response) => {
          await response.body?.cancel();
          return response.status;
        },
      );
    expect((await runCli(["server", "rotate-credentials", "rollover-mcp", "--public-key", join(dir, "rollover.pub"), "--add"], { env })).code).toBe(0);
    expect(await token(added.client_secret)).toBe(200);
    expect((await runCli(["server", "rotate-credentials", "rollover-mcp", "--public-key", join(dir, "rollover.pub")], { env })).code).toBe(0);
    expect(await token(added.client_secret)).toBe(401);
    expect((await runCli(["server", "rotate-credentials", "rollover-mcp", "--add"], { env })).code).toBe(2);
  });

  it("keygen --out writes where asked", async () => {
    const out = join(dir, "keys", "other.key");
    const result = await runCli(["server", "keygen", "other-mcp", "--out", out], { env });
    expect(result.code).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(result.stdout).toContain(`CREDBROKER_PRIVATE_KEY_FILE=${out}`);
  });
});
