/** Health, readiness, metrics, one log line per request, the event stream, and audited policy hot reload. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { captureFile } from "../helpers/log-capture.js";
import { follow, waitFor } from "../helpers/sse.js";

const POLICY = `
servers:
  app-mcp:
    allow:
      - secrets: ["app/**"]
        actions: [read]
  other-mcp:
    allow:
      - secrets: ["other/**"]
        actions: [read]
`;

describe("observability and events", () => {
  let b: TestBroker;
  let appToken: string;
  let otherToken: string;

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY, watchPolicies: true });
    appToken = await b.serverToken("app-mcp", await b.registerServer("app-mcp"));
    otherToken = await b.serverToken("other-mcp", await b.registerServer("other-mcp"));
    await b.putSecret("app/key", testSecret("obs"));
  });
  afterAll(() => b.close());

  it("answers /healthz and a /readyz that checks storage, audit and backends", async () => {
    expect((await b.call("GET", "/healthz")).body).toEqual({ status: "ok" });
    const ready = await b.call<{ status: string; checks: Record<string, { ok: boolean }> }>("GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(Object.keys(ready.body.checks)).toEqual(["storage", "audit", "backend:local"]);
  });

  it("exports request and secret-access metrics labelled by route template and server, never by value", async () => {
    await b.call("GET", "/v1/secrets/app/key", { token: appToken });
    await b.call("GET", "/v1/secrets/other/x", { token: appToken });
    const metrics = (await b.call<string>("GET", "/metrics")).body;
    expect(metrics).toMatch(/credbroker_http_requests_total\{route="\/v1\/secrets\/:path\{\.\+\}",method="GET",status="200"\} \d+/);
    expect(metrics).toMatch(/credbroker_secret_accesses_total\{server="app-mcp",outcome="allowed"\} 1/);
    expect(metrics).toMatch(/credbroker_secret_accesses_total\{server="app-mcp",outcome="denied"\} 1/);
    expect(metrics).toMatch(/credbroker_http_request_duration_seconds_bucket/);
    expect(metrics).not.toContain("app/key");
    expect(metrics).not.toContain("s3cr3t");
  });

  it("answers a secret read with its request id in the body, nosniff and no-store, and only the headers the API documents", async () => {
    const { headers, body } = await b.call<{ request_id: string; lease_id: string }>("GET", "/v1/secrets/app/key", { token: appToken });
    expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(headers.get("x-content-type-options")).toBe("nosniff");
    expect(headers.get("cache-control")).toBe("no-store");
    expect(headers.get("content-type")).toMatch(/^application\/json/);
    expect([...headers.keys()].sort()).toEqual(["cache-control", "connection", "content-length", "content-type", "date", "keep-alive", "x-content-type-options"]);
    const audit = await b.admin<{ events: Array<{ request_id: string; lease_id: string }> }>("GET", "/v1/audit/events?action=secret.read&outcome=allowed");
    expect(audit.body.events.find((event) => event.request_id === body.request_id)).toMatchObject({ lease_id: body.lease_id });
  });

  it("puts a batch read's request id once, beside its secrets", async () => {
    const { headers, body } = await b.call<{ request_id: string; secrets: Record<string, Record<string, unknown>> }>("POST", "/v1/secrets/read", {
      token: appToken,
      body: { names: ["app/key"] },
    });
    expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.keys(body.secrets)).toEqual(["app/key"]);
    expect(body.secrets["app/key"]).not.toHaveProperty("request_id");
    expect(headers.get("cache-control")).toBe("no-store");
    expect(headers.has("x-request-id")).toBe(false);
  });

  it.each([
    ["a refused secret read", "GET", "/v1/secrets/other/x", 403],
    ["a successful answer that holds no secret", "GET", "/v1/leases", 200],
    ["an unknown route", "GET", "/v1/nothing-here", 404],
  ] as const)("carries x-request-id and nosniff on %s", async (_title, method, path, status) => {
    const response = await b.call<{ error?: { request_id: string } }>(method, path, { token: appToken });
    expect(response.status).toBe(status);
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    if (status >= 400) expect(response.body.error?.request_id).toBe(response.headers.get("x-request-id"));
  });

  it("carries x-request-id and nosniff on the event stream too", async () => {
    const controller = new AbortController();
    const response = await fetch(`${b.url}/v1/events`, { headers: { authorization: `Bearer ${appToken}` }, signal: controller.signal });
    try {
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
      expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    } finally {
      controller.abort();
    }
  });

  it("writes one log line per request with request id, server, route, status and latency", async () => {
    const { body } = await b.call<{ request_id: string }>("GET", "/v1/secrets/app/key", { token: appToken, headers: { "x-request-id": "client-chosen-1" } });
    const requestId = body.request_id;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const line = await waitFor(
      () => readFileSync(captureFile(), "utf8").split("\n").find((l) => l.includes(`"request_id":"${requestId}"`) && l.includes('"msg":"request"')),
      "the request log line",
    );
    expect(JSON.parse(line)).toMatchObject({ server: "app-mcp", route: "/v1/secrets/:path{.+}", status: 200, method: "GET", client_request_id: "client-chosen-1" });
    expect(JSON.parse(line).latency_ms).toBeTypeOf("number");
  });

  it("streams new versions and revocations to the servers they concern, and only to them", async () => {
    const app = follow(b.url, appToken);
    const other = follow(b.url, otherToken);
    await waitFor(() => (app.events.length && other.events.length ? true : undefined), "both streams ready");
    expect(app.events[0]).toMatchObject({ event: "ready", data: { server: "app-mcp" } });

    const { body: issued } = await b.call<{ lease_id: string }>("GET", "/v1/secrets/app/key", { token: appToken });
    await b.putSecret("app/key", testSecret("obs-v2"));
    await b.admin("POST", "/v1/admin/leases/revoke", { lease_id: issued.lease_id });
    const version = await waitFor(() => app.events.find((e) => e.event === "secret.version"), "secret.version");
    expect(version.data).toMatchObject({ secret: "app/key", version: 2 });
    const revoked = await waitFor(() => app.events.find((e) => e.event === "lease.revoked"), "lease.revoked");
    expect(revoked.data).toMatchObject({ lease_id: issued.lease_id, secret: "app/key" });
    expect(other.events.map((e) => e.event)).toEqual(["ready"]);
    expect(JSON.stringify(app.events)).not.toContain("s3cr3t");
    app.stop();
    other.stop();
  });

  it("hot-reloads a policy edit; an invalid edit keeps the last good set and is audited", async () => {
    expect((await b.call("GET", "/v1/secrets/app/key", { token: otherToken })).status).toBe(403);
    writeFileSync(join(b.policiesDir, "test.yaml"), POLICY.replace('"other/**"', '"other/**", "app/**"'));
    await waitFor(async () => ((await b.call("GET", "/v1/secrets/app/key", { token: otherToken })).status === 200 ? true : undefined), "the edit to apply");

    writeFileSync(join(b.policiesDir, "test.yaml"), "servers:\n  app-mcp:\n    allow: not-a-list\n");
    const failed = await waitFor(async () => {
      const records = await b.broker.store.queryAudit({ action: "policy.reload", outcome: "error", limit: 10 });
      return records[0];
    }, "the failed reload record");
    expect(failed.reason).toMatch(/kept last good policy: .*test\.yaml:3/);
    expect((await b.call("GET", "/v1/secrets/app/key", { token: otherToken })).status).toBe(200);
    const ok = await b.broker.store.queryAudit({ action: "policy.reload", outcome: "allowed", limit: 10 });
    expect(ok.length).toBeGreaterThan(0);
  });
});

describe("secret accesses by secret (metrics.secret_label), behind a scrape token", () => {
  let b: TestBroker;
  let appToken: string;
  const scrapeToken = `scrape-${"x".repeat(24)}`;
  const scrape = (authorization?: string) => b.call<string>("GET", "/metrics", authorization === undefined ? {} : { headers: { authorization } });

  beforeAll(async () => {
    const tokenFile = join(mkdtempSync(join(tmpdir(), "credbroker-scrape-")), "token");
    writeFileSync(tokenFile, `${scrapeToken}\n`, { mode: 0o600 });
    b = await startTestBroker({ policy: POLICY, config: { metrics: { secret_label: true, token_file: tokenFile } } });
    appToken = await b.serverToken("app-mcp", await b.registerServer("app-mcp"));
    await b.putSecret("app/json", JSON.stringify({ user: "u", password: testSecret("json") }));
    await b.putSecret("app/key", testSecret("labelled"));
  });
  afterAll(() => b.close());

  it("labels allowed reads with the secret path, never denied or missing names chosen by the caller", async () => {
    expect((await b.call("GET", "/v1/secrets/app/key", { token: appToken })).status).toBe(200);
    expect((await b.call("POST", "/v1/secrets/read", { token: appToken, body: { names: ["app/key", "app/json#user"] } })).status).toBe(200);
    expect((await b.call("GET", "/v1/secrets/other/made-up-name", { token: appToken })).status).toBe(403);
    expect((await b.call("GET", "/v1/secrets/app/no-such-secret", { token: appToken })).status).toBe(404);
    const metrics = (await scrape(`Bearer ${scrapeToken}`)).body;
    expect(metrics).toMatch(/credbroker_secret_accesses_total\{server="app-mcp",secret="app\/key",outcome="allowed"\} 2/);
    // A key of a structured secret counts under the secret's path: keys are not series of their own.
    expect(metrics).toMatch(/credbroker_secret_accesses_total\{server="app-mcp",secret="app\/json",outcome="allowed"\} 1/);
    expect(metrics).toMatch(/credbroker_secret_accesses_total\{server="app-mcp",outcome="denied"\} 1/);
    expect(metrics).toMatch(/credbroker_secret_accesses_total\{server="app-mcp",outcome="error"\} 1/);
    expect(metrics).not.toContain("made-up-name");
    expect(metrics).not.toContain("no-such-secret");
    expect(metrics).not.toContain("#user");
    expect(metrics).not.toContain("s3cr3t");
  });

  it.each([
    ["no token", undefined],
    ["another token", `Bearer ${scrapeToken}y`],
    ["the token without the Bearer scheme", scrapeToken],
    ["a broker token's scheme with nothing after it", "Bearer "],
  ])("refuses a scrape with %s: 401, a challenge, no metrics, audited", async (_title, authorization) => {
    const response = await scrape(authorization);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="credbroker metrics"');
    expect(response.body).toMatchObject({ error: { code: "unauthorized" } });
    expect(JSON.stringify(response.body)).not.toContain("credbroker_");
    const requestId = response.headers.get("x-request-id")!;
    const audit = await b.admin<{ events: Array<{ request_id: string; resource: string; outcome: string; reason: string }> }>("GET", "/v1/audit/events?action=http.reject");
    expect(audit.body.events.find((event) => event.request_id === requestId)).toMatchObject({ resource: "GET /metrics", outcome: "denied", reason: "unauthorized" });
  });
});

describe("metrics configuration", () => {
  it("refuses secret_label without a scrape token, saying why", () => {
    expect(() => parseConfig({ metrics: { secret_label: true } })).toThrow(/metrics\.secret_label needs metrics\.token_file/);
  });

  it.each([
    ["a missing file", (dir: string) => join(dir, "absent")],
    ["a token shorter than 16 characters", (dir: string) => {
      writeFileSync(join(dir, "short"), "short-token\n");
      return join(dir, "short");
    }],
    ["a token no Authorization header can carry (a space inside)", (dir: string) => {
      writeFileSync(join(dir, "spaced"), "short-token and more words\n");
      return join(dir, "spaced");
    }],
  ])("does not start with %s, naming the file and never its content", async (_title, makeFile) => {
    const file = makeFile(mkdtempSync(join(tmpdir(), "credbroker-scrape-")));
    const started = startTestBroker({ policy: POLICY, config: { metrics: { token_file: file } } });
    await expect(started).rejects.toThrow(file);
    await expect(started).rejects.not.toThrow(/short-token/);
  });
});
