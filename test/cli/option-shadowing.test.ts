/**
 * A command's own option is the command's: `secret get PATH --version N` reads version N, it
 * does not print the CLI's release (the program's `--version`) with exit 0 as if that were the
 * value, and `credbroker --version` still prints the release.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startDev, type DevBroker } from "../helpers/cli.js";

describe("subcommand options are not taken by the program's", () => {
  let dev: DevBroker;

  beforeAll(async () => {
    dev = await startDev("servers: {}\n");
    for (const value of ["version-one", "version-two"]) expect((await runCli(["secret", "put", "opt/key", "--value-stdin"], { env: dev.env, input: value })).code).toBe(0);
  });
  afterAll(() => dev.stop());

  it("secret get --version N reads version N", async () => {
    const result = await runCli(["secret", "get", "opt/key", "--version", "1"], { env: dev.env });
    expect([result.code, result.stdout]).toEqual([0, "version-one\n"]);
  });

  it("secret destroy --version N destroys version N", async () => {
    const result = await runCli(["secret", "destroy", "opt/key", "--version", "1", "--json"], { env: dev.env });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ path: "opt/key", version: 1, destroyed: true });
  });

  it("credbroker --version prints the release", async () => {
    const result = await runCli(["--version"]);
    expect([result.code, result.stdout]).toEqual([0, "0.1.0\n"]);
  });
});
