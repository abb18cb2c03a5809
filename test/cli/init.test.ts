/** `credbroker init`, `serve` and `migrate` against a config file, as an operator first runs them. */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";

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
