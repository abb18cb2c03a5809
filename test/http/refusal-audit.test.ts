/**
 * Every refused request leaves exactly one audit record: the use case or the authentication that
 * refused it records it with its reason (and says so on the error it throws), and the HTTP edge
 * records every other refusal as `http.reject`; never both, never neither.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditRecordsOf, rawRequest, requestIdOf, type AttackResponse } from "../helpers/attack-kit.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";

const POLICY = `
servers:
  reader-mcp:
    allow:
      - secrets: ["app/**"]
        actions: [read]
    deny:
      - secrets: ["app/admin/**"]
roles:
  auditor: [audit]
`;

describe("one audit record per refused request", () => {
  let b: TestBroker;
  let clientSecret: string;
  let token: string;
  let auditorToken: string;

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY });
    clientSecret = await b.registerServer("reader-mcp");
    await b.putSecret("app/key", testSecret("app"));
    await b.putSecret("app/admin/key", testSecret("admin"));
    token = await b.serverToken("reader-mcp", clientSecret);
    auditorToken = (await b.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "aud1", role: "auditor" })).body.token;
  });
  afterAll(() => b.close());

  const send = (method: string, target: string, options: { token?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {}): Promise<AttackResponse> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body = options.body;
    if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    return rawRequest(b.url, { method, target, headers, ...(body !== undefined && { body }) });
  };

  it.each<[string, () => Promise<AttackResponse>, number, { action: string; outcome: string; reason: RegExp }]>([
    ["a read without a token", () => send("GET", "/v1/secrets/app/key"), 401, { action: "auth.verify", outcome: "denied", reason: /^missing_token$/ }],
    ["a read with a forged token", () => send("GET", "/v1/secrets/app/key", { token: "abc.def.ghi" }), 401, { action: "auth.verify", outcome: "denied", reason: /^invalid_token/ }],
    ["a read an explicit deny refuses", () => send("GET", "/v1/secrets/app/admin/key", { token }), 403, { action: "secret.read", outcome: "denied", reason: /explicit_deny|deny/ }],
    ["a batch read with one denied name", () => send("POST", "/v1/secrets/read", { token, json: { names: ["app/key", "other/x"] } }), 403, { action: "secret.read", outcome: "denied", reason: /./ }],
    ["a read of a missing secret", () => send("GET", "/v1/secrets/app/missing", { token }), 404, { action: "secret.read", outcome: "error", reason: /^not_found$/ }],
    ["a read of an invalid name", () => send("POST", "/v1/secrets/read", { token, json: { names: ["app//x"] } }), 400, { action: "secret.read", outcome: "denied", reason: /^invalid_path$/ }],
    ["a batch read with an unknown field", () => send("POST", "/v1/secrets/read", { token, json: { names: ["app/key"], extra: 1 } }), 400, { action: "http.reject", outcome: "denied", reason: /^invalid_request$/ }],
    ["a batch read that is not JSON", () => send("POST", "/v1/secrets/read", { token, body: "{", headers: { "content-type": "application/json" } }), 400, { action: "http.reject", outcome: "denied", reason: /^invalid_json$/ }],
    ["an unknown route", () => send("GET", "/v1/nothing-here", { token }), 404, { action: "http.reject", outcome: "denied", reason: /^not_found$/ }],
    ["a renewal of an unknown lease", () => send("POST", "/v1/leases/lease_nope/renew", { token }), 404, { action: "lease.renew", outcome: "denied", reason: /^not_found$/ }],
    ["a revocation of another's lease", () => send("DELETE", "/v1/leases/lease_nope", { token }), 404, { action: "http.reject", outcome: "denied", reason: /^not_found$/ }],
    ["a wrong client secret", () => send("POST", "/v1/auth/token", { json: { grant_type: "client_credentials", client_id: "reader-mcp", client_secret: "cbs_wrong" } }), 401, { action: "auth.token", outcome: "denied", reason: /^bad_credentials/ }],
    ["an unsupported grant type", () => send("POST", "/v1/auth/token", { json: { grant_type: "password", client_id: "reader-mcp" } }), 400, { action: "auth.token", outcome: "denied", reason: /^invalid_request$/ }],
    ["an operator without the permission", () => send("GET", "/v1/admin/servers", { token: auditorToken }), 403, { action: "auth.verify", outcome: "denied", reason: /lacks servers/ }],
    ["an operator read of a missing secret", () => send("POST", "/v1/admin/secrets/read", { token: b.adminToken, json: { path: "app/none" } }), 404, { action: "secret.get", outcome: "error", reason: /^not_found$/ }],
    ["an operator revocation of an unknown lease", () => send("DELETE", "/v1/admin/leases/lease_nope", { token: b.adminToken }), 404, { action: "lease.revoke", outcome: "allowed", reason: /no active lease matched/ }],
    ["an operator query of an unknown server", () => send("GET", "/v1/admin/servers/ghost-mcp", { token: b.adminToken }), 404, { action: "http.reject", outcome: "denied", reason: /^not_found$/ }],
  ])("%s", async (_title, request, status, expected) => {
    const response = await request();
    expect(response.status, response.text).toBe(status);
    const records = await auditRecordsOf(b, requestIdOf(response));
    expect(records.map(({ action, outcome, reason }) => ({ action, outcome, reason }))).toEqual([
      { action: expected.action, outcome: expected.outcome, reason: expect.stringMatching(expected.reason) },
    ]);
  });
});
