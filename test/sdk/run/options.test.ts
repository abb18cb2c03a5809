/** The command line of `credbroker run`: --env pairs, --on-change modes, ${NAME} substitution, the child's environment. */
import { describe, expect, it } from "vitest";
import { childEnvironment, parseEnvMappings, parseOnChange, RunUsageError, substituteArgs } from "../../../src/sdk/run/options.js";
import { exitStatus } from "../../../src/sdk/run/child.js";

describe("parseEnvMappings", () => {
  it.each([
    [["A=a/b"], { A: "a/b" }],
    [["DB_URL=db/ro#url", "_X=y=z"], { DB_URL: "db/ro#url", _X: "y=z" }],
  ])("%j gives %j", (pairs, expected) => {
    expect(parseEnvMappings(pairs)).toEqual(expected);
  });

  it.each([
    [["A"], /NAME=PATH/],
    [["A="], /NAME=PATH/],
    [["1A=x"], /environment variable name/],
    [["A-B=x"], /environment variable name/],
    [["A=x", "A=y"], /twice/],
    [["CREDBROKER_CLIENT_SECRET=x"], /reserved/],
  ])("rejects %j", (pairs, message) => {
    expect(() => parseEnvMappings(pairs)).toThrow(RunUsageError);
    expect(() => parseEnvMappings(pairs)).toThrow(message);
  });
});

describe("parseOnChange", () => {
  it.each([
    ["restart", { kind: "restart" }],
    ["exit", { kind: "exit" }],
    ["none", { kind: "none" }],
    ["signal:SIGHUP", { kind: "signal", signal: "SIGHUP" }],
    ["signal:usr1", { kind: "signal", signal: "SIGUSR1" }],
  ])("%s", (text, expected) => {
    expect(parseOnChange(text)).toEqual(expected);
  });

  it.each(["reload", "signal:", "signal:SIGKILL", "signal:NOPE"])("rejects %s", (text) => {
    expect(() => parseOnChange(text)).toThrow(RunUsageError);
  });
});

describe("substituteArgs", () => {
  const values = { DB_URL: "postgres://u:p@h/db", TOKEN: "t$1" };
  it.each([
    [["${DB_URL}"], ["postgres://u:p@h/db"]],
    [["--url=${DB_URL}", "${TOKEN}${TOKEN}"], ["--url=postgres://u:p@h/db", "t$1t$1"]],
    [["${HOME}", "$DB_URL", "${DB_URL", "$(DB_URL)"], ["${HOME}", "$DB_URL", "${DB_URL", "$(DB_URL)"]],
  ])("%j becomes %j", (args, expected) => {
    expect(substituteArgs(args, values)).toEqual(expected);
  });
});

describe("childEnvironment", () => {
  it("drops the wrapper's credentials and adds the values, which win", () => {
    const env = childEnvironment(
      {
        PATH: "/bin",
        CREDBROKER_URL: "u",
        CREDBROKER_TOKEN: "t",
        CREDBROKER_CLIENT_ID: "i",
        CREDBROKER_CLIENT_SECRET: "s",
        CREDBROKER_PRIVATE_KEY_FILE: "k",
        CREDBROKER_TOKEN_FILE: "f",
        CREDBROKER_OTHER: "kept",
        API_KEY: "old",
      },
      { API_KEY: "new" },
    );
    expect(env).toEqual({ PATH: "/bin", CREDBROKER_OTHER: "kept", API_KEY: "new" });
  });
});

describe("exitStatus", () => {
  it.each([
    [0, null, 0],
    [3, null, 3],
    [null, "SIGTERM", 143],
    [null, "SIGKILL", 137],
    [null, "SIGINT", 130],
  ] as const)("code %s signal %s gives %s", (code, signal, expected) => {
    expect(exitStatus(code, signal)).toBe(expected);
  });
});
