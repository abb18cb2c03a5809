/**
 * Loading the configuration file: relative paths inside it mean the same whatever folder the broker
 * is started from (they resolve against the file's folder), while environment overrides keep the
 * working directory's meaning.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { createMountTable } from "../src/backends/registry.js";
import { loadConfig, parseConfig } from "../src/config.js";
import { startVaultTestServer } from "./servers/vault-server.js";
import { json, openLocal, testLogger } from "./backends/helpers.js";

const vault = { path: "kv/", backend: "vault", address: "http://127.0.0.1:8200" };

describe("paths in the config file", () => {
  let folder: string;
  let elsewhere: string;
  let cwd: string;

  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "credbroker-config-"));
    elsewhere = mkdtempSync(join(tmpdir(), "credbroker-cwd-"));
    cwd = process.cwd();
    // The broker is started from another folder than the one holding its config.
    process.chdir(elsewhere);
  });

  afterEach(() => {
    process.chdir(cwd);
    rmSync(folder, { recursive: true, force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  });

  function load(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
    const file = join(folder, "credbroker.yaml");
    writeFileSync(file, stringify(config));
    return loadConfig(file, env);
  }

  const at = (...parts: string[]) => (dir: string) => parts.map((part) => join(dir, part)).join(" ");
  it.each([
    ["policies", { policies: "policies" }, (c: Loaded) => c.policies, at("policies")],
    ["master_key_file", { master_key_file: "keys/master.key" }, (c: Loaded) => c.master_key_file, at("keys/master.key")],
    ["a sqlite database", { database: "sqlite:data/broker.db" }, (c: Loaded) => c.database, (dir: string) => `sqlite:${join(dir, "data/broker.db")}`],
    ["metrics.token_file", { metrics: { token_file: "scrape.token" } }, (c: Loaded) => c.metrics.token_file, at("scrape.token")],
    ["a vault mount's tls_ca_file", { mounts: [{ ...vault, tls_ca_file: "ca.pem", auth: { token_env: "T" } }] }, (c: Loaded) => vaultMount(c).tls_ca_file, at("ca.pem")],
    ["a vault mount's auth.token_file", { mounts: [{ ...vault, auth: { token_file: "run/vault.token" } }] }, (c: Loaded) => vaultMount(c).auth.token_file, at("run/vault.token")],
    [
      "a vault mount's auth.approle.role_id_file and secret_id_file",
      { mounts: [{ ...vault, auth: { approle: { role_id_file: "role-id", secret_id_file: "../secret-id" } } }] },
      (c: Loaded) => `${vaultMount(c).auth.approle?.role_id_file} ${vaultMount(c).auth.approle?.secret_id_file}`,
      at("role-id", "../secret-id"),
    ],
  ])("resolves %s against the config file's folder, not the working directory", (_what, config, pick, expected) => {
    expect(pick(load(config))).toBe(expected(folder));
  });

  it("keeps absolute paths as written", () => {
    const config = load({ master_key_file: "/etc/credbroker/master.key", mounts: [{ ...vault, auth: { token_file: "/run/vault/token" } }] });
    expect(config.master_key_file).toBe("/etc/credbroker/master.key");
    expect(vaultMount(config).auth.token_file).toBe("/run/vault/token");
  });

  it("leaves an environment override relative to the working directory", () => {
    const config = load({}, { CREDBROKER_METRICS__TOKEN_FILE: "scrape.token" });
    expect(config.metrics.token_file).toBe("scrape.token");
  });

  it("reads a vault mount's token and CA files next to the config, from another working directory", async () => {
    const server = await startVaultTestServer();
    const { token } = server.createToken({ rules: [{ path: "secret/data/*", capabilities: ["read"] }] });
    server.kvPut("app", { password: "from-vault" });
    mkdirSync(join(folder, "run"));
    writeFileSync(join(folder, "run", "vault.token"), `${token}\n`);
    writeFileSync(join(folder, "ca.pem"), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    const config = load({ mounts: [{ ...vault, address: server.url, tls_ca_file: "ca.pem", auth: { token_file: "run/vault.token" } }] });
    const opened = openLocal();
    const table = await createMountTable(config.mounts, { local: opened.local, logger: testLogger(), metrics: { registry: new Registry() }, clock: Date.now });
    try {
      const { backend, location } = table.resolve("kv/app");
      expect(json((await backend.read(location))?.bytes)).toEqual({ password: "from-vault" });
    } finally {
      await table.close();
      await opened.close();
      await server.close();
    }
  });
});

describe("lease retention and purge interval", () => {
  it("default to 7 days and 10 minutes, read durations from the file and CREDBROKER_LEASE__* overrides", () => {
    expect(loadConfig(undefined, {}).lease).toMatchObject({ retention: 7 * 86400, purge_interval: 600 });
    expect(loadConfig(undefined, { CREDBROKER_LEASE__RETENTION: "30d", CREDBROKER_LEASE__PURGE_INTERVAL: "1h" }).lease).toMatchObject({ retention: 30 * 86400, purge_interval: 3600 });
  });

  it.each([
    [{ CREDBROKER_LEASE__RETENTION: "soon" }, "lease.retention"],
    [{ CREDBROKER_LEASE__PURGE_INTERVAL: "0" }, "lease.purge_interval"],
    [{ CREDBROKER_LEASE__PURGE_BATCH: "10" }, "purge_batch"],
  ])("refuses %o naming %s", (env, key) => {
    expect(() => loadConfig(undefined, env)).toThrow(key);
  });
});

describe("rate limits", () => {
  it("default to budgets a busy deployment does not reach, with the token endpoint's as before", () => {
    expect(parseConfig({}).rate_limit).toEqual({
      per_second: 5,
      burst: 20,
      max_failures: 10,
      failure_window: 300,
      lockout: 900,
      requests: { per_second: 200, burst: 10_000 },
      refusal_window: 60,
      refusals_recorded: 1,
    });
  });

  it("take CREDBROKER_RATE_LIMIT__* overrides, one key at a time", () => {
    const config = loadConfig(undefined, { CREDBROKER_RATE_LIMIT__REQUESTS__BURST: "50", CREDBROKER_RATE_LIMIT__REFUSAL_WINDOW: "5m" });
    expect(config.rate_limit.requests).toEqual({ per_second: 200, burst: 50 });
    expect(config.rate_limit.refusal_window).toBe(300);
  });

  it.each([
    ["an unknown key", { requests: { per_minute: 5 } }, /rate_limit\.requests/],
    ["a zero rate", { requests: { per_second: 0 } }, /rate_limit\.requests\.per_second/],
    ["a fractional burst", { requests: { burst: 1.5 } }, /rate_limit\.requests\.burst/],
    ["no refusal recorded at all", { refusals_recorded: 0 }, /rate_limit\.refusals_recorded/],
  ])("refuse %s", (_what, rateLimit, message) => {
    expect(() => parseConfig({ rate_limit: rateLimit })).toThrow(message);
  });
});

type Loaded = ReturnType<typeof loadConfig>;

function vaultMount(config: Loaded) {
  const mount = config.mounts[0];
  if (mount?.backend !== "vault") throw new Error("expected a vault mount");
  return mount;
}
