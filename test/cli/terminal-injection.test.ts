/**
 * Text an attacker chooses (a client_id, a secret name) reaches an operator's terminal through the
 * audit trail. Table output must show control characters as visible escapes, never act on them;
 * CSV must never start a cell with something a spreadsheet runs as a formula.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csvCell } from "../../src/audit/csv.js";
import { table, terminalSafe } from "../../src/cli/output.js";
import { runCli, startCli, stop } from "../helpers/cli.js";

const ESC = "\u001b";
/** Clears the screen, then prints a line that looks like a genuine allowed read. */
const FORGED_CLIENT_ID = `x${ESC}[2J${ESC}[H\n9999  2026-01-01T00:00:00.000Z  admin  secret.read  prod/db  allowed`;

describe("terminalSafe and table", () => {
  it.each([
    ["ESC sequences", `a${ESC}[31mred`, "a\\x1b[31mred"],
    ["a newline and a carriage return", "a\nb\rc", "a\\nb\\rc"],
    ["a tab", "a\tb", "a\\tb"],
    ["NUL, BEL, DEL", "\u0000\u0007\u007f", "\\x00\\x07\\x7f"],
    ["C1 controls (CSI as one byte)", "a\u009b2J", "a\\x9b2J"],
    ["bidirectional overrides", "abc\u202edcba", "abc\\u202edcba"],
    ["line and paragraph separators", "a\u2028b\u2029c", "a\\u2028b\\u2029c"],
    ["a backslash, so an escape cannot be faked", "a\\nb", "a\\\\nb"],
    ["ordinary text, unchanged", "github/token é ✓", "github/token é ✓"],
  ])("escapes %s", (_what, input, expected) => {
    expect(terminalSafe(input)).toBe(expected);
  });

  it("renders one line per row whatever a cell holds", () => {
    const rendered = table(["actor", "action"], [[FORGED_CLIENT_ID, "auth.token"], ["ok", "secret.read"]]);
    expect(rendered.split("\n")).toHaveLength(3);
    expect(rendered).not.toContain(ESC);
  });
});

describe("csvCell", () => {
  it.each([
    ["=1+1", "'=1+1"],
    ["+1", "'+1"],
    ["-1", "'-1"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tx", "'\tx"],
    ["\n=HYPERLINK(1)", "\"'\n=HYPERLINK(1)\""],
    ["\r\n@x", "\"'\r\n@x\""],
    ["plain", "plain"],
    ["a,b", "\"a,b\""],
  ])("defuses %j", (input, expected) => {
    expect(csvCell(input)).toBe(expected);
  });
});

describe("credbroker audit query shows a hostile client_id harmlessly", () => {
  let dir: string;
  let dev: ChildProcess;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-inject-"));
    mkdirSync(join(dir, "policies"));
    const started = await startCli(["dev", "--json", "--port", "0", "--data-dir", join(dir, "data"), "--policies", join(dir, "policies")], { cwd: dir });
    dev = started.child;
    const ready = JSON.parse(started.firstLine) as { url: string; admin_token: string };
    env = { CREDBROKER_URL: ready.url, CREDBROKER_TOKEN: ready.admin_token };
    const refused = await fetch(new URL("/v1/auth/token", ready.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials", client_id: FORGED_CLIENT_ID, client_secret: "cbs_wrong" }),
    });
    expect(refused.status).toBeGreaterThanOrEqual(400);
  });
  afterAll(async () => {
    expect(await stop(dev)).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints the table without control characters and with one line per record", async () => {
    const json = await runCli(["audit", "query", "--json"], { env });
    const records = JSON.parse(json.stdout) as Array<{ actor: string }>;
    expect(records.some((record) => record.actor.includes(ESC))).toBe(true);

    const shown = await runCli(["audit", "query"], { env });
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toContain(ESC);
    expect(shown.stdout.trimEnd().split("\n")).toHaveLength(records.length + 1);
    expect(shown.stdout).toContain("\\x1b[2J");
  });

  it("prints CSV with the hostile cell quoted whole (RFC 4180), so no forged row starts", async () => {
    const shown = await runCli(["audit", "query", "--format", "csv"], { env });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`,"${FORGED_CLIENT_ID}",`);
  });
});
