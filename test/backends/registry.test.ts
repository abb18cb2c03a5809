/** The `mounts` configuration schema and the registry that turns it into a mount table. */
import { describe, expect, it } from "vitest";
import { isDynamic, isListable, isWritable } from "../../src/backends/backend.js";
import { backendPlugins } from "../../src/backends/registry.js";
import { parseConfig } from "../../src/config.js";
import { rejection, testMounts } from "./helpers.js";

const vault = { path: "kv/", backend: "vault", address: "http://127.0.0.1:8200", auth: { token_env: "VAULT_TOKEN" } } as const;
const aws = { path: "aws/", backend: "aws", region: "us-east-1" } as const;

function problems(mounts: unknown[]): string {
  try {
    parseConfig({ mounts });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected the configuration to be rejected");
}

describe("mounts configuration", () => {
  it("fills in the documented defaults", () => {
    const [kv, sm, local] = parseConfig({ mounts: [vault, aws, { path: "team/", backend: "local" }] }).mounts;
    expect(kv).toEqual({
      ...vault,
      engine: "kv",
      kv_mount: "secret",
      dynamic_path: "database/creds",
      timeout: 5000,
      circuit_breaker: { failure_threshold: 5, cooldown: 30 },
      cache: { max_age: 30, max_entries: 1000 },
    });
    expect(sm).toMatchObject({ ...aws, version_stage: "AWSCURRENT", name_prefix: "", max_attempts: 2, recovery_window_days: 30, timeout: 5000 });
    expect(local).toEqual({ path: "team/", backend: "local" });
  });

  it.each([
    ["250ms", 250],
    ["2s", 2000],
    ["1m", 60_000],
    [0.5, 500],
    [3, 3000],
  ])("reads timeout %j as %i ms", (timeout, expected) => {
    expect(parseConfig({ mounts: [{ ...aws, timeout }] }).mounts[0]).toMatchObject({ timeout: expected });
  });

  it.each([
    ["an unknown key", [{ ...vault, kv_mout: "secret" }], /mounts\.0: Unrecognized key: "kv_mout"/],
    ["an unknown backend", [{ path: "c/", backend: "consul" }], /mounts\.0\.backend/],
    ["no auth method", [{ ...vault, auth: {} }], /mounts\.0\.auth: auth: set exactly one of token_env, token_file, approle/],
    ["two auth methods", [{ ...vault, auth: { token_env: "A", token_file: "/t" } }], /set exactly one of token_env, token_file, approle/],
    ["an AppRole without a secret id", [{ ...vault, auth: { approle: { role_id_env: "R" } } }], /approle secret id: set exactly one of secret_id_env, secret_id_file/],
    ["a token inline instead of a variable name", [{ ...vault, auth: { token_env: "hvs.abc" } }], /an environment variable name/],
    ["a bad timeout", [{ ...aws, timeout: "fast" }], /mounts\.0\.timeout/],
    ["a bad region", [{ ...aws, region: "mars" }], /an AWS region/],
    ["an address that is not http(s)", [{ ...vault, address: "ftp://vault" }], /mounts\.0\.address/],
    ["an unknown key in the cache options", [{ ...aws, cache: { ttl: "30s" } }], /mounts\.0\.cache: Unrecognized key: "ttl"/],
  ])("rejects %s", (_what, mounts, message) => {
    expect(problems(mounts)).toMatch(message);
  });

  it("reports every problem of every mount together", () => {
    const message = problems([{ ...vault, auth: {} }, { ...aws, region: "mars" }]);
    expect(message).toMatch(/mounts\.0\.auth/);
    expect(message).toMatch(/mounts\.1\.region/);
  });
});

describe("createMountTable", () => {
  it("builds one backend per mount; a local mount keeps its prefix in the store, so paths never collide", async () => {
    const mounts = await testMounts([{ path: "team/", backend: "local" }, vault, aws], { env: { VAULT_TOKEN: "t" } });
    try {
      expect(mounts.table.all().map((backend) => `${backend.kind} ${backend.mount}`).sort()).toEqual(["aws aws/", "local local", "local team/", "vault kv/"]);
      const team = mounts.table.resolve("team/db");
      if (!isWritable(team.backend)) throw new Error("local mounts are writable");
      await team.backend.write(team.location, Buffer.from("v"), { createdBy: "op" });
      expect((await mounts.local.read("team/db"))?.bytes.toString()).toBe("v");
      expect(await mounts.local.read("db")).toBeUndefined();
      expect(mounts.table.resolve("unmounted/db").backend.mount).toBe("local");
    } finally {
      await mounts.close();
    }
  });

  it("names the mount when a credential it needs is missing", async () => {
    const error = await rejection(testMounts([vault], { env: {} }));
    expect(error.message).toBe("mount kv/: environment variable VAULT_TOKEN (auth.token_env) is not set");
  });
});

describe("backend plug-ins", () => {
  it("are registered under their own kind", () => {
    for (const [kind, plugin] of Object.entries(backendPlugins)) expect(plugin.kind).toBe(kind);
  });

  // The capability table of docs/backends.md, as the plug-ins declare it.
  it.each([
    ["local", { path: "team/", backend: "local" }, { staticRead: true, versions: true, list: true, dynamicIssuance: false }],
    ["vault engine kv", vault, { staticRead: true, versions: true, list: true, dynamicIssuance: false }],
    ["vault engine dynamic", { ...vault, path: "db/", engine: "dynamic" }, { staticRead: false, versions: false, list: false, dynamicIssuance: true }],
    ["aws", aws, { staticRead: true, versions: true, list: true, dynamicIssuance: false }],
  ] as const)("%s declares what its backends implement", async (_what, entry, expected) => {
    const [mount] = parseConfig({ mounts: [entry] }).mounts;
    if (mount === undefined) throw new Error("expected one mount");
    const declared = mount.backend === "local" ? backendPlugins.local.capabilities(mount) : mount.backend === "vault" ? backendPlugins.vault.capabilities(mount) : backendPlugins.aws.capabilities(mount);
    expect(declared).toEqual(expected);
    const mounts = await testMounts([entry], { env: { VAULT_TOKEN: "t" } });
    try {
      const { backend } = mounts.table.resolve(`${entry.path}x`);
      expect({ versions: isWritable(backend), list: isListable(backend), dynamicIssuance: isDynamic(backend) }).toEqual({
        versions: expected.versions,
        list: expected.list,
        dynamicIssuance: expected.dynamicIssuance,
      });
    } finally {
      await mounts.close();
    }
  });
});
