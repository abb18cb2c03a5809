/**
 * Finding 11 of issue 14: the authentication scheme name is case-insensitive (RFC 7235 section
 * 2.1), so `bearer`, `BEARER` and `Bearer` all carry a token, on every route that reads one:
 * server routes, the event stream, operator routes and the /metrics scrape token.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

const POLICY = `
servers:
  app-mcp:
    allow:
      - secrets: ["app/**"]
        actions: [read]
`;

describe("Authorization scheme names are case-insensitive", () => {
  let b: TestBroker;
  let serverToken: string;
  const scrapeToken = `scrape-${"y".repeat(24)}`;

  beforeAll(async () => {
    const tokenFile = join(mkdtempSync(join(tmpdir(), "credbroker-scrape-")), "token");
    writeFileSync(tokenFile, scrapeToken, { mode: 0o600 });
    b = await startTestBroker({ policy: POLICY, config: { metrics: { token_file: tokenFile } } });
    serverToken = await b.serverToken("app-mcp", await b.registerServer("app-mcp"));
  });
  afterAll(() => b.close());

  const schemes = ["bearer", "BEARER", "bEaReR", "Bearer"];

  it.each(schemes)("a server token sent as `%s <token>` is accepted, whether verified before or not", async (scheme) => {
    // A fresh token per case: the first use takes the full verification, the second the cache.
    const token = await b.serverToken("app-mcp", (await b.admin<{ client_secret: string }>("POST", "/v1/admin/servers/app-mcp/rotate-credentials")).body.client_secret);
    for (let attempt = 0; attempt < 2; attempt++) {
      expect((await b.call("GET", "/v1/leases", { headers: { authorization: `${scheme} ${token}` } })).status).toBe(200);
    }
    serverToken = token;
  });

  it.each(schemes)("the event stream accepts `%s <token>`", async (scheme) => {
    const controller = new AbortController();
    const response = await fetch(`${b.url}/v1/events`, { headers: { authorization: `${scheme} ${serverToken}` }, signal: controller.signal });
    controller.abort();
    expect(response.status).toBe(200);
  });

  it.each(schemes)("an operator token sent as `%s <token>` is accepted", async (scheme) => {
    expect((await b.call("GET", "/v1/admin/servers", { headers: { authorization: `${scheme} ${b.adminToken}` } })).status).toBe(200);
  });

  it.each(schemes)("the /metrics scrape token sent as `%s <token>` is accepted", async (scheme) => {
    expect((await b.call("GET", "/metrics", { headers: { authorization: `${scheme} ${scrapeToken}` } })).status).toBe(200);
  });

  it.each([
    ["another scheme", (token: string) => `Basic ${token}`],
    ["the scheme glued to the token", (token: string) => `bearer${token}`],
    ["the scheme alone", () => "bearer "],
    ["a scheme that only starts like bearer", (token: string) => `bearerx ${token}`],
  ])("still refuses %s", async (_title, header) => {
    expect((await b.call("GET", "/v1/leases", { headers: { authorization: header(serverToken) } })).status).toBe(401);
    expect((await b.call("GET", "/metrics", { headers: { authorization: header(scrapeToken) } })).status).toBe(401);
  });
});
