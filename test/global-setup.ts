/**
 * Suite-wide checks. Before: a clean log folder and a fresh build of the CLI. After: no log line written by any broker in any
 * test contains a secret value (the test marker), a client secret, an operator token or a JWT.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { LOG_DIR } from "./helpers/log-capture.js";

const FORBIDDEN: Array<[string, RegExp]> = [
  ["a test secret value", /s3cr3t-VALUE-/],
  ["a client secret", /cbs_[A-Za-z0-9_-]{20,}/],
  ["an operator token", /cbo_[A-Za-z0-9_-]{20,}/],
  ["a JWT", /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}/],
];

export function setup(): void {
  rmSync(LOG_DIR, { recursive: true, force: true });
  // CLI tests spawn the compiled CLI: build it from the sources under test, never a stale dist/.
  const root = resolve(import.meta.dirname, "..");
  execFileSync(process.execPath, [resolve(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
}

export function teardown(): void {
  if (!existsSync(LOG_DIR)) return;
  const leaks: string[] = [];
  let lines = 0;
  for (const file of readdirSync(LOG_DIR)) {
    for (const line of readFileSync(join(LOG_DIR, file), "utf8").split("\n")) {
      if (!line) continue;
      lines += 1;
      for (const [what, pattern] of FORBIDDEN) if (pattern.test(line)) leaks.push(`${file}: ${what} in: ${line.slice(0, 300)}`);
    }
  }
  if (lines === 0) throw new Error("log capture saw no log lines: the leak check would be vacuous");
  if (leaks.length > 0) throw new Error(`secret material found in logs:\n${leaks.slice(0, 20).join("\n")}`);
}
