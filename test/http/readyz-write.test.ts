/** /readyz probes the audit store with a real committed write: a WAL that cannot be written is not ready. */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

/** e2fsprogs' attribute tool: an immutable file refuses every write, even root's. */
const CHATTR = "chattr";

/** `chattr +i` needs root and a filesystem with attributes (ext4, tmpfs since 6.0); elsewhere the case is skipped. */
function chattrWorks(dir: string): boolean {
  try {
    const probe = join(dir, "chattr-probe");
    execFileSync("touch", [probe]);
    execFileSync(CHATTR, ["+i", probe], { stdio: "ignore" });
    execFileSync(CHATTR, ["-i", probe], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("readiness on SQLite with an immutable WAL", () => {
  let b: TestBroker;
  let wal: string;
  let supported = false;
  beforeAll(async () => {
    b = await startTestBroker();
    await b.putSecret("ready/one", "v1");
    supported = chattrWorks(b.dir);
    const file = readdirSync(b.dir, { recursive: true, encoding: "utf8" }).find((name) => name.endsWith("-wal"));
    wal = join(b.dir, file ?? "missing-wal");
  });
  afterAll(async () => {
    if (supported) execFileSync(CHATTR, ["-i", wal], { stdio: "ignore" });
    await b.close();
  });

  it("turns 503 while writes fail and back to 200 when the WAL is writable again", async (context) => {
    if (!supported) context.skip("chattr +i is not available here (needs root and a filesystem with file attributes)");
    expect((await b.call("GET", "/readyz")).status).toBe(200);
    execFileSync(CHATTR, ["+i", wal]);
    const write = await b.admin("POST", "/v1/admin/secrets", { path: "ready/two", value: "v2" });
    expect(write.status).toBeGreaterThanOrEqual(500);
    await until(async () => (await b.call("GET", "/readyz")).status === 503);
    execFileSync(CHATTR, ["-i", wal]);
    await until(async () => (await b.call("GET", "/readyz")).status === 200);
    expect((await b.admin("POST", "/v1/admin/secrets", { path: "ready/three", value: "v3" })).status).toBe(201);
  });
});
