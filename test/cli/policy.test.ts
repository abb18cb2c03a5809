/** `credbroker policy check` and `explain` work on a folder of policy files, without a broker. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";

const POLICY = `
servers:
  github-mcp:
    allow:
      - secrets: ["github/**"]
        actions: [read]
`;

describe("credbroker policy check / explain (no broker needed)", () => {
  it("exits 1 with file:line:column for every problem", async () => {
    const dir = mkdtempSync(join(tmpdir(), "credbroker-policy-"));
    writeFileSync(join(dir, "bad.yaml"), `servers:\n  github-mcp:\n    allow:\n      - secrets: ["../etc"]\n        actions: [read]\n        max_ttl: forever\n`);
    const result = await runCli(["policy", "check", dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/bad\.yaml:4:\d+: /);
    expect(result.stderr).toMatch(/bad\.yaml:6:\d+: /);
    rmSync(dir, { recursive: true, force: true });
  });

  it("names the deciding rule", async () => {
    const dir = mkdtempSync(join(tmpdir(), "credbroker-policy-"));
    writeFileSync(join(dir, "p.yaml"), POLICY);
    const allowed = await runCli(["policy", "explain", "--server", "github-mcp", "--secret", "github/token", "--action", "read", "--dir", dir]);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/ALLOW: .*p\.yaml:5/);
    const denied = await runCli(["policy", "explain", "--server", "other", "--secret", "github/token", "--dir", dir]);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/DENY/);
    rmSync(dir, { recursive: true, force: true });
  });
});
