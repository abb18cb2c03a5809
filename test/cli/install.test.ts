/**
 * The README's install step puts `credbroker` on the PATH, so the `mcpServers` example works as
 * written: an MCP client spawns the bare command name `credbroker` with `run` and its environment,
 * with no shell alias. Installs the checkout itself into a temporary npm prefix.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runCli, startCli, stop } from "../helpers/cli.js";
import { testSecret } from "../helpers/broker.js";

/** Spawns a bare command name the way MCP clients do: PATH lookup, no shell. */
function spawnByName(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.once("error", fail);
    child.once("close", (code) => done({ code, stdout, stderr }));
  });
}

describe("npm install -g from the checkout", () => {
  let dir: string;
  let pathEnv: NodeJS.ProcessEnv;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-install-"));
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    execFileSync(npm, ["install", "-g", "--prefix", join(dir, "prefix"), "--no-audit", "--no-fund", ROOT], { stdio: "ignore" });
    // Only the prefix's bin and node's own folder: nothing else could answer to `credbroker`.
    pathEnv = { ...process.env, PATH: [join(dir, "prefix", "bin"), join(process.execPath, "..")].join(delimiter) };
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("puts credbroker on the PATH", async () => {
    const result = await spawnByName("credbroker", ["--version"], pathEnv);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("runs the README's mcpServers entry shape: credbroker run by name, secrets injected", async () => {
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "policies", "servers.yaml"), 'servers:\n  analytics-mcp:\n    allow:\n      - secrets: ["db/analytics-ro"]\n        actions: [read]\n');
    const started = await startCli(["dev", "--json", "--port", "0", "--data-dir", join(dir, "data"), "--policies", join(dir, "policies")], { cwd: dir });
    try {
      const ready = JSON.parse(started.firstLine) as { url: string; admin_token: string };
      const operator = { CREDBROKER_URL: ready.url, CREDBROKER_TOKEN: ready.admin_token };
      const value = testSecret("install");
      expect((await runCli(["secret", "put", "db/analytics-ro", "--value-stdin"], { env: operator, input: value })).code).toBe(0);
      const keyFile = join(dir, "analytics-mcp.key");
      expect((await runCli(["server", "keygen", "analytics-mcp", "--out", keyFile], { env: operator })).code).toBe(0);

      // The "env" block of the mcpServers entry, and its "command" and "args".
      const env = { ...pathEnv, CREDBROKER_URL: ready.url, CREDBROKER_CLIENT_ID: "analytics-mcp", CREDBROKER_PRIVATE_KEY_FILE: keyFile };
      const result = await spawnByName(
        "credbroker",
        ["run", "--env", "PG_URL=db/analytics-ro", "--stdio", "inherit", "--", "node", "-e", "process.stdout.write(process.argv[1] === process.env.PG_URL ? 'same' : 'different')", "${PG_URL}"],
        env,
      );
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toBe("same");
    } finally {
      expect(await stop(started.child)).toBe(0);
    }
  });
});
