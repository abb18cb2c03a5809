/**
 * command with real programs (shell scripts run without a shell by the broker): the target
 * system is a file the program keeps; its test step compares stdin with what it stored.
 */
import { randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { BrokerError } from "../../src/errors.js";
import { ROTATION_CONTEXT_ENV } from "../../src/rotation/strategies/command.js";
import { rotationStrategies } from "../../src/rotation/registry.js";
import { testMounts, type TestMounts } from "../backends/helpers.js";
import { pendingValuesForTests, rotationStrategyContract } from "../contracts/rotation-strategy.contract.js";
import { contextFor, optionsFromPolicy } from "./helpers.js";

const INITIAL = "initial-value-0123456789";

function script(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** A program that keeps the value in DIR/value (set, rollback) and checks it (test). */
function keeperScript(dir: string): string {
  return script(
    dir,
    "keeper.sh",
    [
      `case "$${ROTATION_CONTEXT_ENV}" in`,
      `  *'"step":"set"'*|*'"step":"rollback"'*) cat > ${dir}/value ;;`,
      `  *'"step":"test"'*) cmp -s - ${dir}/value ;;`,
      "  *) cat > /dev/null ;;",
      "esac",
    ].join("\n"),
  );
}

rotationStrategyContract("command with a real program", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cb-command-"));
  const program = keeperScript(dir);
  writeFileSync(join(dir, "value"), INITIAL);
  const mounts = await testMounts([]);
  await mounts.local.write("rotated/app", Buffer.from(INITIAL), { createdBy: "test" });
  const options = optionsFromPolicy("command", `{ command: { argv: [${program}], steps: [set, test, rollback] } }`);
  const parts = { secretPath: "rotated/app", mounts: mounts.table, options, pending: pendingValuesForTests() };
  return {
    strategy: rotationStrategies.command,
    context: (rotationId) => contextFor(parts, rotationId),
    accepts: (value) => Promise.resolve(readFileSync(join(dir, "value")).equals(value)),
    async close() {
      await mounts.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("command: edge cases", () => {
  let dir: string;
  let mounts: TestMounts;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cb-command-edge-"));
    mounts = await testMounts([]);
    await mounts.local.write("rotated/app", Buffer.from(INITIAL), { createdBy: "test" });
  });
  afterAll(async () => {
    await mounts.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (program: string, extra = "") => {
    const options = optionsFromPolicy("command", `{ command: { argv: [${program}, first arg, "$HOME"]${extra} } }`);
    const parts = { secretPath: "rotated/app", mounts: mounts.table, options, pending: pendingValuesForTests() };
    const rotationId = randomUUID();
    const strategy = rotationStrategies.command;
    const created = await strategy.create(contextFor(parts, rotationId));
    const value = (await parts.pending.read(rotationId))!;
    try {
      await strategy.set(contextFor(parts, rotationId), created);
      return { value, error: undefined };
    } catch (error) {
      return { value, error: error as BrokerError };
    }
  };

  it("hands the value on stdin, the context in CREDBROKER_ROTATION, arguments as written, and no other environment", async () => {
    const program = script(dir, "env.sh", `cat > ${dir}/stdin; env > ${dir}/env; for a in "$@"; do echo "$a"; done > ${dir}/args`);
    const { value, error } = await run(program);
    expect(error).toBeUndefined();
    expect(readFileSync(join(dir, "stdin")).equals(value)).toBe(true);
    const env = Object.fromEntries(
      readFileSync(join(dir, "env"), "utf8")
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
    // /bin/sh adds PWD (and SHLVL in some shells) itself; nothing of the broker's environment arrives.
    expect(Object.keys(env).filter((name) => !["PWD", "SHLVL", "_"].includes(name)).sort()).toEqual([ROTATION_CONTEXT_ENV, "PATH"]);
    expect(env["PATH"]).toBe("/usr/bin:/bin");
    expect(JSON.parse(env[ROTATION_CONTEXT_ENV]!)).toEqual({ type: "credbroker.rotation.v1", rotation_id: expect.any(String), secret: "rotated/app", step: "set" });
    expect(readFileSync(join(dir, "args"), "utf8")).toBe("first arg\n$HOME\n");
  });

  it("a non-zero exit code fails the step with rotation_failed, and echoed values are kept out of the detail", async () => {
    const program = script(dir, "fail.sh", "cat >&2; echo ' could not apply' >&2; exit 3");
    const { value, error } = await run(program);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error).toMatchObject({ code: "rotation_failed", data: { exit_code: 3 } });
    expect(error!.message).toContain("exit code 3");
    expect(error!.detail).toContain("[redacted] could not apply");
    expect(`${error!.message}${error!.detail}`).not.toContain(value.toString());
  });

  it("a program that outlives its timeout is killed and the step fails with backend_unavailable", async () => {
    const program = script(dir, "slow.sh", "exec sleep 30");
    const { error } = await run(program, ", timeout: 1s");
    expect(error).toMatchObject({ code: "backend_unavailable", message: expect.stringContaining("within 1s and was killed") });
  });

  it("a program that cannot be started fails with rotation_failed naming it", async () => {
    const { error } = await run(join(dir, "missing.sh"));
    expect(error).toMatchObject({ code: "rotation_failed", message: expect.stringContaining("missing.sh could not be started (ENOENT)") });
  });
});
