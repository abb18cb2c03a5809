/**
 * One `credbroker dev` per data directory: a second one on the same folder must refuse before it
 * changes anything (it used to start, then revoke the first one's admin token).
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCli, stop } from "../helpers/cli.js";

const devArgs = (dir: string) => ["dev", "--json", "--port", "0", "--data-dir", join(dir, "data"), "--policies", join(dir, "policies")];

async function adminCanList(url: string, token: string): Promise<number> {
  const response = await fetch(new URL("/v1/admin/servers", url), { headers: { authorization: `Bearer ${token}` } });
  await response.body?.cancel();
  return response.status;
}

describe("credbroker dev holds its data directory", () => {
  let dir: string;
  let first: ChildProcess;
  let ready: { url: string; admin_token: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-devlock-"));
    mkdirSync(join(dir, "policies"));
    const started = await startCli(devArgs(dir), { cwd: dir });
    first = started.child;
    ready = JSON.parse(started.firstLine) as typeof ready;
  });
  afterAll(async () => {
    if (first.exitCode === null) await stop(first);
    rmSync(dir, { recursive: true, force: true });
  });

  it("a second dev on the same folder exits with the reason and the first one's token keeps working", async () => {
    const second = startCli(devArgs(dir), { cwd: dir });
    const outcome = await second.then(
      async (started) => {
        await stop(started.child);
        return "started";
      },
      (error: unknown) => String(error),
    );
    expect(outcome).toMatch(/exited 1: .*another credbroker \(pid \d+\) is using the data directory/s);
    expect(await adminCanList(ready.url, ready.admin_token)).toBe(200);
  });

  it("the lock names the holder's pid and goes away with a clean stop; the next dev starts", async () => {
    const lockFile = join(dir, "data", "credbroker.lock");
    expect(readFileSync(lockFile, "utf8").trim()).toBe(String(first.pid));
    expect(await stop(first)).toBe(0);
    expect(existsSync(lockFile)).toBe(false);
    const again = await startCli(devArgs(dir), { cwd: dir });
    expect(await stop(again.child)).toBe(0);
  });

  it("a lock left by a process that no longer runs does not stop the next start", async () => {
    // A pid far above any real one (the kernel's limit is 4194304): nobody holds it.
    writeFileSync(join(dir, "data", "credbroker.lock"), "999999999\n");
    const started = await startCli(devArgs(dir), { cwd: dir });
    expect(await stop(started.child)).toBe(0);
  });
});

describe("credbroker dev on a busy port", () => {
  it("exits at once with the reason, before creating its data directory", async () => {
    const { createServer } = await import("node:net");
    const holder = createServer();
    await new Promise<void>((ready) => holder.listen(0, "127.0.0.1", ready));
    const { port } = holder.address() as { port: number };
    const dir = mkdtempSync(join(tmpdir(), "credbroker-devport-"));
    try {
      const { runCli } = await import("../helpers/cli.js");
      const result = await runCli(["dev", "--port", String(port), "--data-dir", join(dir, "data"), "--json"], { cwd: dir });
      expect(result.code).toBe(1);
      expect(JSON.parse(result.stderr)).toMatchObject({ error: { message: expect.stringContaining(`port ${port}`) } });
      expect(existsSync(join(dir, "data"))).toBe(false);
    } finally {
      await new Promise<void>((done) => holder.close(() => done()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
