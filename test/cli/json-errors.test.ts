/**
 * `--json` covers failures too: scripts read one JSON document on stderr,
 * `{"error": {"code", "message"}}`, and the exit status (1 failed, 2 usage), never prose.
 */
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function parsedError(stderr: string): { code: string; message: string } {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  const parsed = JSON.parse(lines[0]!) as { error: { code: string; message: string } };
  expect(Object.keys(parsed)).toEqual(["error"]);
  expect(typeof parsed.error.code).toBe("string");
  expect(parsed.error.message.length).toBeGreaterThan(0);
  return parsed.error;
}

describe("credbroker --json failures", () => {
  it.each([
    ["a missing argument", ["server", "add", "--json"]],
    ["an unknown option", ["server", "list", "--json", "--colour"]],
    ["a bad option value", ["dev", "--json", "--port", "eighty"]],
    ["an unknown command", ["serverz", "--json"]],
  ])("%s: exit 2 and a usage error as JSON", async (_what, args) => {
    const result = await runCli(args, { env: { CREDBROKER_URL: "http://127.0.0.1:9", CREDBROKER_TOKEN: "cbo_x" } });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(parsedError(result.stderr).code).toBe("usage");
  });

  it("a broker that cannot be reached: exit 1 and the broker error's code", async () => {
    const port = await closedPort();
    const result = await runCli(["server", "list", "--json"], { env: { CREDBROKER_URL: `http://127.0.0.1:${port}`, CREDBROKER_TOKEN: "cbo_x" } });
    expect(result.code).toBe(1);
    const error = parsedError(result.stderr);
    expect(error.code).toBe("broker_unreachable");
    expect(error.message).toContain(String(port));
  });

  it("without --json the same failure is one human line", async () => {
    const result = await runCli(["server", "add"], {});
    expect(result.code).toBe(2);
    expect(() => JSON.parse(result.stderr)).toThrow();
  });

  it("arguments after -- belong to the child of `run`, not to the CLI", async () => {
    const result = await runCli(["run", "--", "node", "-e", "process.exit(3)", "--json"], { env: { CREDBROKER_URL: "http://127.0.0.1:9" } });
    expect(result.code).toBe(2);
    expect(() => JSON.parse(result.stderr)).toThrow();
  });
});
