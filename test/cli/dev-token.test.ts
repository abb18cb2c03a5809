/**
 * `credbroker dev` keeps its admin token across restarts of the same data directory (stored 0600
 * there), so a shell that exported CREDBROKER_TOKEN keeps working; a token that stopped being
 * valid (revoked, or the file edited) is replaced by a new one.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli, stop } from "../helpers/cli.js";

async function startDev(dir: string): Promise<{ stop: () => Promise<number | null>; url: string; token: string }> {
  const started = await startCli(["dev", "--json", "--port", "0", "--data-dir", join(dir, "data"), "--policies", join(dir, "policies")], { cwd: dir });
  const ready = JSON.parse(started.firstLine) as { url: string; admin_token: string };
  return { stop: () => stop(started.child), url: ready.url, token: ready.admin_token };
}

async function status(url: string, token: string): Promise<number> {
  const response = await fetch(new URL("/v1/admin/operators", url), { headers: { authorization: `Bearer ${token}` } });
  await response.body?.cancel();
  return response.status;
}

describe("credbroker dev's admin token", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-devtoken-"));
    mkdirSync(join(dir, "policies"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is the same after a restart, kept in a 0600 file of the data directory", async () => {
    const first = await startDev(dir);
    expect(await first.stop()).toBe(0);
    const file = join(dir, "data", "admin.token");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8").trim()).toBe(first.token);

    const second = await startDev(dir);
    try {
      expect(second.token).toBe(first.token);
      expect(await status(second.url, second.token)).toBe(200);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });

  it("is replaced when the kept one was revoked", async () => {
    const first = await startDev(dir);
    const env = { CREDBROKER_URL: first.url, CREDBROKER_TOKEN: first.token };
    expect((await runCli(["operator", "add", "ops", "--role", "admin", "--json"], { env })).code).toBe(0);
    const ops = JSON.parse((await runCli(["operator", "add", "ops2", "--role", "admin", "--json"], { env })).stdout) as { token: string };
    expect((await runCli(["operator", "revoke", "dev-admin"], { env: { ...env, CREDBROKER_TOKEN: ops.token } })).code).toBe(0);
    expect(await first.stop()).toBe(0);

    const second = await startDev(dir);
    try {
      expect(second.token).not.toBe(first.token);
      expect(await status(second.url, second.token)).toBe(200);
      expect(await status(second.url, first.token)).toBe(401);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });

  it("is replaced when the file holds something else", async () => {
    writeFileSync(join(dir, "data", "admin.token"), "cbo_not-a-real-token\n");
    const started = await startDev(dir);
    try {
      expect(started.token).not.toBe("cbo_not-a-real-token");
      expect(await status(started.url, started.token)).toBe(200);
    } finally {
      expect(await started.stop()).toBe(0);
    }
    expect(readFileSync(join(dir, "data", "admin.token"), "utf8").trim()).toBe(started.token);
  });
});
