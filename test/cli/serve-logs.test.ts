/**
 * `credbroker serve` logs in one format: every line it writes to stderr, the start and the
 * stop included, is a JSON object a log shipper can parse.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runCli } from "../helpers/cli.js";

describe("credbroker serve logs", () => {
  let dir: string;
  let config: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-serve-logs-"));
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "policies", "servers.yaml"), "servers: {}\n");
    config = join(dir, "credbroker.yaml");
    writeFileSync(config, ["listen: 127.0.0.1:0", `database: sqlite:${join(dir, "broker.db")}`, "policies: policies", "master_key_file: master.key", ""].join("\n"));
    expect((await runCli(["init", "--config", config, "--json"])).code).toBe(0);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 1 on a busy port instead of hanging on what it had opened", async () => {
    const { createServer } = await import("node:net");
    const holder = createServer();
    await new Promise<void>((ready) => holder.listen(0, "127.0.0.1", ready));
    const { port } = holder.address() as { port: number };
    const busy = join(dir, "busy.yaml");
    writeFileSync(busy, readFileSync(config, "utf8").replace("listen: 127.0.0.1:0", `listen: 127.0.0.1:${port}`));
    try {
      const result = await runCli(["serve", "--config", busy]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("EADDRINUSE");
    } finally {
      await new Promise<void>((done) => holder.close(() => done()));
    }
  }, 20_000);

  it("writes only JSON lines from start to a clean stop", async () => {
    const child = spawn(process.execPath, [resolve(ROOT, "dist/cli/bin.js"), "serve", "--config", config], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
    await new Promise<void>((ready, fail) => {
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8");
        if (stderr.includes('"credbroker listening"')) ready();
      });
      child.once("exit", (code) => fail(new Error(`serve exited ${code}: ${stderr}`)));
    });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);

    const lines = stderr.trim().split("\n");
    const records = lines.map((line) => {
      try {
        return JSON.parse(line) as { msg?: string; signal?: string };
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
    expect(records.some((record) => record.msg === "credbroker listening")).toBe(true);
    expect(records.some((record) => record.signal === "SIGTERM" && record.msg === "shutting down")).toBe(true);
    expect(records.at(-1)?.msg).toBe("credbroker stopped");
    expect(stdout).toBe("");
  });
});
