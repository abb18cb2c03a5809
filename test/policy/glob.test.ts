import { describe, expect, it } from "vitest";

import { compileGlob, isValidSecretPath, validateGlob } from "../../src/policy/glob.js";

describe("compileGlob", () => {
  // [pattern, path, matches]
  const table: Array<[string, string, boolean]> = [
    // literal patterns compare exactly
    ["github/token", "github/token", true],
    ["github/token", "github/token2", false],
    ["github/token", "github", false],
    ["github/token", "github/token/x", false],
    ["a.b", "axb", false], // "." is not a wildcard
    ["a+b", "a+b", true],
    ["a+b", "aab", false], // "+" is not a quantifier
    // `*` as a segment: exactly one segment
    ["github/*", "github/token", true],
    ["github/*", "github", false],
    ["github/*", "github/a/b", false],
    ["*/token", "github/token", true],
    ["*/token", "token", false],
    ["*", "token", true],
    ["*", "a/b", false],
    ["a/*/c", "a/b/c", true],
    ["a/*/c", "a/c", false],
    ["a/*/c", "a/b/x/c", false],
    // `**` at the end: zero or more segments
    ["github/**", "github", true],
    ["github/**", "github/token", true],
    ["github/**", "github/admin/deploy/key", true],
    ["github/**", "githubx/token", false],
    ["github/**", "gitlab/token", false],
    // `**` at the start
    ["**/token", "token", true],
    ["**/token", "github/token", true],
    ["**/token", "a/b/c/token", true],
    ["**/token", "a/b/c/token2", false],
    ["**/token", "a/token/b", false],
    // `**` in the middle
    ["prod/**/password", "prod/password", true],
    ["prod/**/password", "prod/db/password", true],
    ["prod/**/password", "prod/eu/db/main/password", true],
    ["prod/**/password", "staging/db/password", false],
    ["prod/**/password", "prod/db/password/old", false],
    // `**` alone and several `**`
    ["**", "a", true],
    ["**", "a/b/c", true],
    ["**/admin/**", "admin", true],
    ["**/admin/**", "github/admin/key", true],
    ["**/admin/**", "github/administrator/key", false],
    ["a/**/x/**/b", "a/x/b", true],
    ["a/**/x/**/b", "a/1/2/x/3/b", true],
    ["a/**/x/**/b", "a/b", false],
    ["a/**/x/**/b", "a/x", false],
    ["a/**/**/b", "a/b", true],
    // `*` inside a segment: any characters within that one segment
    ["github/*-token", "github/deploy-token", true],
    ["github/*-token", "github/-token", true],
    ["github/*-token", "github/deploy-tokens", false],
    ["github/*-token", "github/a/b-token", false], // never crosses "/"
    ["db/*-ro", "db/analytics-ro", true],
    ["db/app-*", "db/app-eu", true],
    ["db/app-*", "db/app-eu/x", false],
    ["db/*app*", "db/myapp1", true],
    ["db/a*b*c", "db/abc", true],
    ["db/a*b*c", "db/a1b2c", true],
    ["db/a*b*c", "db/a1c2b", false],
    ["db/a*b*c", "db/abcbc", true],
    ["**/*.pem", "tls/server.pem", true],
    ["**/*.pem", "server.pem", true],
    ["**/*.pem", "tls/server.pem.bak", false],
    // paths with + = @ characters
    ["mail/user+tag@example.com", "mail/user+tag@example.com", true],
    ["mail/*@example.com", "mail/user+tag@example.com", true],
    ["mail/*@example.com", "mail/user@example.org", false],
    ["k/a=b", "k/a=b", true],
    ["k/*=*", "k/key=value", true],
    // `#key` suffix: the glob matches the part before "#"
    ["kv/app", "kv/app#token", true],
    ["kv/*", "kv/app#token", true],
  ];
  it.each(table)("%s vs %s → %s", (pattern, path, expected) => {
    expect(compileGlob(pattern)(path)).toBe(expected);
  });

  it("throws TypeError for an invalid glob", () => {
    expect(() => compileGlob("../x")).toThrow(TypeError);
    expect(() => compileGlob("kv/app#token")).toThrow(TypeError);
  });

  it("does not backtrack catastrophically on adversarial input", () => {
    const matcher = compileGlob("**/a*a*a*a*a*a*a*b/**/a*a*a*a*c/**/d");
    const segment = "a".repeat(200);
    const path = Array.from({ length: 40 }, () => segment).join("/");
    const started = performance.now();
    for (let i = 0; i < 10; i++) expect(matcher(path)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe("validateGlob", () => {
  it.each([["github/token"], ["github/**"], ["**"], ["*/x"], ["a/*-token"], ["a+b=c@d/e.f_g-h"], ["a/**/**/b"]])("%s is valid", (pattern) => {
    expect(validateGlob(pattern)).toBeUndefined();
  });

  it.each([
    ["", /empty/],
    ["../x", /segment "\.\." is not allowed/],
    ["a/./b", /segment "\." is not allowed/],
    ["a//b", /empty path segment/],
    ["/a", /empty path segment/],
    ["a/", /empty path segment/],
    ["a**", /whole path segment/],
    ["a/***", /whole path segment/],
    ["a b", /character " " is not allowed/],
    ["a/b?", /character "\?" is not allowed/],
    ["a/{b,c}", /character "\{" is not allowed/],
    ["kv/app#token", /cannot contain "#"/],
  ])("%j is invalid: %s", (pattern, message) => {
    expect(validateGlob(pattern)).toMatch(message);
  });
});

describe("isValidSecretPath", () => {
  it.each([["github/token"], ["a"], ["kv/app#token"], ["mail/user+tag@example.com"], ["k/a=b"], ["a/.hidden"], ["a/b..c"], ["x#a.b"]])(
    "%s is valid",
    (path) => {
      expect(isValidSecretPath(path)).toBe(true);
    },
  );

  it.each([[""], ["a//b"], ["/a"], ["a/"], ["../x"], ["a/../b"], ["a/./b"], ["."], ["a/.#k"], ["a#"], ["a#b#c"], ["#k"], ["a b"], ["a/*"], ["a\nb"]])(
    "%j is invalid",
    (path) => {
      expect(isValidSecretPath(path)).toBe(false);
    },
  );
});
