/**
 * The attacker's view of authorisation: tokens of disabled servers; one server reaching for
 * another's secret; operator and server tokens on each other's routes; a client choosing its own
 * source address; garbage Authorization headers; and what the audit shows afterwards.
 *
 * Every rejection is a 4xx (401/403/400/429, never 500), names no secret value, and leaves a
 * `denied` audit record; the broker keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testSecret } from "../helpers/broker.js";
import { b64url, deniedEventsViaApi, expectBrokerError, expectDeniedAudit, expectHealthy, expectNoSecretMaterial, expectOAuthError, rawRequest, startAttackTarget, unsecuredJwt, type AttackTarget } from "../helpers/attack-kit.js";
import { readAs, withAuthorization, tokenRequest } from "../helpers/token-attacks.js";

describe("disabling a server revokes its access at once", () => {
  let target: AttackTarget;
  beforeAll(async () => {
    target = await startAttackTarget();
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  it("its unexpired token is refused on the next request (401 invalid_token), and so is a new token request", async () => {
    const token = await target.token("server-a");
    expect((await readAs(target, token)).status).toBe(200);

    const disabled = await target.tb.admin("POST", "/v1/admin/servers/server-a/disable");
    expect(disabled.status).toBe(200);

    const response = await readAs(target, token);
    const { error } = expectBrokerError(response, 401, "invalid_token", target.material());
    expect(error.message).toMatch(/disabled/);
    await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.verify", actor: "server-a", reason: /server_disabled/ });

    const single = await rawRequest(target.tb.url, { method: "GET", target: "/v1/secrets/a/token", headers: { authorization: `Bearer ${token}` } });
    expectBrokerError(single, 401, "invalid_token", target.material());

    const again = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-a", client_secret: target.clientSecrets["server-a"] } });
    expectOAuthError(again, 401, "invalid_client", target.material());
    await expectDeniedAudit(target.tb, again, target.material(), { action: "auth.token", actor: "server-a", reason: /server_disabled/ });
  });

  it("other servers are not affected", async () => {
    const response = await readAs(target, await target.token("server-b"), ["b/token"]);
    expect(response.status, response.text).toBe(200);
  });

  it("a token issued before the server was disabled stays dead after it is enabled again (it may be the leaked one)", async () => {
    const leaked = await target.token("server-b");
    expect((await readAs(target, leaked, ["b/token"])).status).toBe(200);
    expect((await target.tb.admin("POST", "/v1/admin/servers/server-b/disable")).status).toBe(200);
    expect((await target.tb.admin("POST", "/v1/admin/servers/server-b/enable")).status).toBe(200);
    const response = await readAs(target, leaked, ["b/token"]);
    expectBrokerError(response, 401, "invalid_token", target.material());
    await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.verify", actor: "server-b" });
  });

  it("after rotate-credentials the old client secret is refused with invalid_client", async () => {
    const rotated = await target.tb.admin<{ client_secret: string }>("POST", "/v1/admin/servers/server-b/rotate-credentials");
    expect(rotated.status).toBe(200);
    const material = [...target.material(), rotated.body.client_secret];
    const old = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-b", client_secret: target.clientSecrets["server-b"] } });
    expectOAuthError(old, 401, "invalid_client", material);
    await expectDeniedAudit(target.tb, old, material, { action: "auth.token", actor: "server-b" });
    const fresh = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-b", client_secret: rotated.body.client_secret } });
    expect(fresh.status, fresh.text).toBe(200);
  });
});

// =============================================================================================

describe("authorisation: each principal stays inside its boundary", () => {
  let target: AttackTarget;
  let tokenA: string;
  let auditorToken: string;

  beforeAll(async () => {
    target = await startAttackTarget();
    tokenA = await target.token("server-a");
    const created = await target.tb.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "alice-auditor", role: "auditor" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    auditorToken = created.body.token;
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  const material = () => [...target.material(), auditorToken];

  it("server-a reading server-b's secret gets 403 denied naming the secret and the reason", async () => {
    const response = await readAs(target, tokenA, ["b/token"]);
    const { error } = expectBrokerError(response, 403, "denied", material());
    expect(error.message).toContain("b/token");
    expect(error.denied).toEqual([{ secret: "b/token", reason: "no_matching_rule", message: expect.stringContaining("server-a") }]);
    await expectDeniedAudit(target.tb, response, material(), { action: "secret.read", actor: "server-a", resource: "b/token", reason: /no_matching_rule/ });
  });

  it("an explicit deny wins over server-a's own allow (a/admin/key under a/**)", async () => {
    const response = await readAs(target, tokenA, ["a/admin/key"]);
    const { error } = expectBrokerError(response, 403, "denied", material());
    expect(error.denied).toEqual([expect.objectContaining({ secret: "a/admin/key", reason: "explicit_deny" })]);
    await expectDeniedAudit(target.tb, response, material(), { action: "secret.read", resource: "a/admin/key", reason: /explicit_deny/ });
  });

  it("a batch with one foreign secret is all-or-nothing: 403 names only b/token, a/token's value is not sent, no lease is made", async () => {
    const leases = async () => (await target.tb.call<{ leases: unknown[] }>("GET", "/v1/leases", { token: tokenA })).body.leases.length;
    const before = await leases();
    const response = await readAs(target, tokenA, ["a/token", "b/token"]);
    const { error } = expectBrokerError(response, 403, "denied", material());
    expect(error.denied).toEqual([expect.objectContaining({ secret: "b/token" })]);
    expect(await leases()).toBe(before);
    await expectDeniedAudit(target.tb, response, material(), { resource: "b/token" });
  });

  describe("another server's lease", () => {
    let leaseOfB: string;
    let tokenB: string;
    beforeAll(async () => {
      tokenB = await target.token("server-b");
      const read = await readAs(target, tokenB, ["b/token"]);
      expect(read.status).toBe(200);
      leaseOfB = (read.body as { secrets: Record<string, { lease_id: string }> }).secrets["b/token"]!.lease_id;
    });
    const leasesOfB = async () => (await target.tb.call<{ leases: Array<{ lease_id: string; state: string }> }>("GET", "/v1/leases", { token: tokenB })).body.leases;

    it("cannot be renewed by server-a: 404 not_found (ids cannot be probed), audited as denied", async () => {
      const response = await rawRequest(target.tb.url, { method: "POST", target: `/v1/leases/${leaseOfB}/renew`, headers: { authorization: `Bearer ${tokenA}` } });
      expectBrokerError(response, 404, "not_found", material());
      await expectDeniedAudit(target.tb, response, material(), { action: "lease.renew", actor: "server-a" });
    });

    it("cannot be revoked by server-a: 404 not_found, the lease stays active, audited as denied", async () => {
      const response = await rawRequest(target.tb.url, { method: "DELETE", target: `/v1/leases/${leaseOfB}`, headers: { authorization: `Bearer ${tokenA}` } });
      expectBrokerError(response, 404, "not_found", material());
      expect(await leasesOfB()).toContainEqual(expect.objectContaining({ lease_id: leaseOfB, state: "active" }));
      await expectDeniedAudit(target.tb, response, material(), { actor: "server-a" });
    });

    it("is not listed to server-a, whatever the query says", async () => {
      const listed = await target.tb.call<{ leases: Array<{ lease_id: string; server: string }> }>("GET", "/v1/leases?server=server-b&all=true", { token: tokenA });
      expect(listed.status).toBe(200);
      expect(listed.body.leases.map((lease) => lease.server).filter((server) => server !== "server-a")).toEqual([]);
    });
  });

  it.each([
    ["GET /v1/secrets/b/token", "/v1/secrets/b/token"],
    ["GET /v1/secrets/b/token%23key (one key of it)", "/v1/secrets/b/token%23key"],
    ["GET /v1/secrets/B/token (another case)", "/v1/secrets/B/token"],
  ])("%s with server-a's token is 403 denied and audited", async (_label, path) => {
    const response = await rawRequest(target.tb.url, { method: "GET", target: path, headers: { authorization: `Bearer ${tokenA}` } });
    expectBrokerError(response, 403, "denied", material());
    await expectDeniedAudit(target.tb, response, material(), { action: "secret.read", actor: "server-a" });
  });

  describe.each([
    ["POST /v1/secrets/read", "POST", "/v1/secrets/read", { names: ["a/token"] }],
    ["GET /v1/secrets/a/token", "GET", "/v1/secrets/a/token", undefined],
    ["GET /v1/leases", "GET", "/v1/leases", undefined],
  ])("an operator token on %s", (_label, method, path, body) => {
    it("is 403 forbidden for the admin operator, audited as denied", async () => {
      const response = await withAuthorization(target, method, path, `Bearer ${target.tb.adminToken}`, body);
      expectBrokerError(response, 403, "forbidden", material());
      await expectDeniedAudit(target.tb, response, material(), { action: "auth.verify", reason: /operator_token/ });
    });

    it("is 403 forbidden for an auditor operator too", async () => {
      const response = await withAuthorization(target, method, path, `Bearer ${auditorToken}`, body);
      expectBrokerError(response, 403, "forbidden", material());
    });
  });

  describe.each([
    ["GET /v1/admin/servers", "GET", "/v1/admin/servers", undefined],
    ["POST /v1/admin/servers (register)", "POST", "/v1/admin/servers", { id: "evil-server" }],
    ["POST /v1/admin/secrets (write)", "POST", "/v1/admin/secrets", { path: "b/token", value: "overwritten" }],
    ["POST /v1/admin/secrets/read", "POST", "/v1/admin/secrets/read", { path: "b/token" }],
    ["POST /v1/admin/servers/server-b/disable", "POST", "/v1/admin/servers/server-b/disable", undefined],
    ["POST /v1/admin/operators", "POST", "/v1/admin/operators", { name: "mallory", role: "admin" }],
    ["GET /v1/audit/events", "GET", "/v1/audit/events", undefined],
  ])("a server token on %s", (_label, method, path, body) => {
    it("is 401 unauthorized, changes nothing, and is audited as denied", async () => {
      const response = await withAuthorization(target, method, path, `Bearer ${tokenA}`, body);
      expectBrokerError(response, 401, "unauthorized", material());
      await expectDeniedAudit(target.tb, response, material(), { action: "auth.verify", reason: /invalid_operator_token/ });
    });
  });

  it("the server token above changed nothing: no evil-server, server-b enabled, b/token unchanged", async () => {
    const servers = await target.tb.admin<{ servers: Array<{ id: string; disabled_at?: unknown }> }>("GET", "/v1/admin/servers");
    expect(servers.body.servers.map((s) => s.id).sort()).toEqual(["server-a", "server-b"]);
    const read = await readAs(target, await target.token("server-b"), ["b/token"]);
    expect(read.status, read.text).toBe(200);
    expect(read.body).toMatchObject({ secrets: { "b/token": { value: target.values.b, version: 1 } } });
  });

  it("an auditor operator on an admin route it lacks is 403 forbidden, audited as denied", async () => {
    const response = await withAuthorization(target, "POST", "/v1/admin/secrets/read", `Bearer ${auditorToken}`, { path: "b/token" });
    expectBrokerError(response, 403, "forbidden", material());
    await expectDeniedAudit(target.tb, response, material(), { action: "auth.verify", actor: "alice-auditor" });
  });

  it("a revoked operator token is 401 unauthorized", async () => {
    const created = await target.tb.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "bob-temp", role: "auditor" });
    expect(created.status).toBe(201);
    expect((await target.tb.admin("DELETE", "/v1/admin/operators/bob-temp")).status).toBe(204);
    const response = await withAuthorization(target, "GET", "/v1/audit/events", `Bearer ${created.body.token}`);
    expectBrokerError(response, 401, "unauthorized", [...material(), created.body.token]);
    await expectDeniedAudit(target.tb, response, [...material(), created.body.token], { action: "auth.verify" });
  });
});

// =============================================================================================

/**
 * With `trust_proxy: true` the broker sits behind a reverse proxy that appends the address it
 * saw to X-Forwarded-For (nginx `$proxy_add_x_forwarded_for`, AWS ALB, ...). Whatever the client
 * itself put in the header comes first; only the last entry was written by the trusted proxy.
 */
describe("behind a trusted proxy, a client cannot choose its own source address", () => {
  let target: AttackTarget;
  let officeToken: string;
  const officeValue = testSecret("office");

  beforeAll(async () => {
    target = await startAttackTarget({ config: { trust_proxy: true } });
    const secret = await target.tb.registerServer("office-server");
    await target.tb.putSecret("office/printer", officeValue);
    officeToken = await target.tb.serverToken("office-server", secret);
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  it("a request the proxy saw from 10.1.2.3 reads the office secret (the condition is met)", async () => {
    const response = await readAs(target, officeToken, ["office/printer"], { "x-forwarded-for": "10.1.2.3" });
    expect(response.status, response.text).toBe(200);
  });

  it("a client outside 10.0.0.0/8 that sends X-Forwarded-For: 10.1.2.3 itself is 403 denied (condition_failed), audited with its real address", async () => {
    // What the broker receives after the proxy appended the address it actually saw.
    const response = await readAs(target, officeToken, ["office/printer"], { "x-forwarded-for": "10.1.2.3, 198.51.100.7" });
    const { error } = expectBrokerError(response, 403, "denied", [...target.material(), officeValue]);
    expect(error.denied).toEqual([expect.objectContaining({ secret: "office/printer", reason: "condition_failed" })]);
    const records = await expectDeniedAudit(target.tb, response, [...target.material(), officeValue], { action: "secret.read", actor: "office-server" });
    expect(records.map((record) => record.sourceIp)).toContain("198.51.100.7");
  });
});

// =============================================================================================

describe("missing or garbage Authorization headers are 401", () => {
  let target: AttackTarget;
  let tokenA: string;
  beforeAll(async () => {
    target = await startAttackTarget();
    tokenA = await target.token("server-a");
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  const junk = (bytes: number) => "A".repeat(bytes);
  const cases: Array<{ name: string; header: () => string | undefined; code: "unauthorized" | "invalid_token" }> = [
    { name: "no Authorization header", header: () => undefined, code: "unauthorized" },
    { name: "an empty Authorization header", header: () => "", code: "unauthorized" },
    { name: "the scheme alone (Bearer)", header: () => "Bearer", code: "unauthorized" },
    { name: "the scheme and a space (Bearer )", header: () => "Bearer ", code: "unauthorized" },
    { name: "two spaces before the token", header: () => `Bearer  ${tokenA}`, code: "unauthorized" },
    { name: "the token without a scheme", header: () => tokenA, code: "unauthorized" },
    { name: "a Basic header with server-a's client secret", header: () => `Basic ${Buffer.from(`server-a:${target.clientSecrets["server-a"]}`).toString("base64")}`, code: "unauthorized" },
    { name: "a Digest header", header: () => 'Digest username="server-a", response="x"', code: "unauthorized" },
    { name: "two bearer tokens", header: () => `Bearer ${tokenA}, Bearer ${tokenA}`, code: "unauthorized" },
    { name: "a token followed by junk", header: () => `Bearer ${tokenA} junk`, code: "unauthorized" },
    { name: "a bearer token with quotes", header: () => `Bearer "${tokenA}"`, code: "unauthorized" },
    { name: "Bearer with 10 KB of junk", header: () => `Bearer ${junk(10 * 1024)}`, code: "unauthorized" },
    { name: "Bearer with 10 KB of JWT-shaped junk", header: () => `Bearer eyJ${junk(5 * 1024)}.eyJ${junk(5 * 1024)}.${junk(100)}`, code: "unauthorized" },
    { name: "Bearer with 4 KB of JWT-shaped junk (inside the length limit)", header: () => `Bearer eyJ${junk(2000)}.eyJ${junk(2000)}.${junk(50)}`, code: "invalid_token" },
    { name: "Bearer not-a-jwt", header: () => "Bearer not-a-jwt", code: "invalid_token" },
    { name: "Bearer a.b.c", header: () => "Bearer a.b.c", code: "invalid_token" },
    { name: "Bearer with five JWE-like segments", header: () => "Bearer a.b.c.d.e", code: "invalid_token" },
    { name: "Bearer with a JSON header that is not an object", header: () => `Bearer ${b64url("[]")}.${b64url("{}")}.sig`, code: "invalid_token" },
    { name: "Bearer with a huge JSON header inside the limit", header: () => `Bearer ${b64url({ alg: "EdDSA", kid: "k".repeat(2500) })}.${b64url("{}")}.sig`, code: "invalid_token" },
    { name: "Bearer with a client secret instead of a token", header: () => `Bearer ${target.clientSecrets["server-a"]}`, code: "invalid_token" },
  ];

  describe.each(cases)("with $name", ({ header, code }) => {
    it(`answers 401 ${code} on POST /v1/secrets/read, releasing nothing`, async () => {
      const response = await readAs(target, undefined, ["a/token"], header() === undefined ? {} : { authorization: header()! });
      expectBrokerError(response, 401, code, target.material());
      await expectHealthy(target.tb);
    });

    it("answers 401 on GET /v1/admin/servers as well", async () => {
      const response = await withAuthorization(target, "GET", "/v1/admin/servers", header());
      expect([401, 403]).toContain(response.status);
      expectBrokerError(response, response.status, response.status === 401 ? "unauthorized" : "forbidden", target.material());
    });

    it("records a denied auth.verify audit event", async () => {
      const response = await readAs(target, undefined, ["a/token"], header() === undefined ? {} : { authorization: header()! });
      await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.verify" });
    });
  });

  it("a valid token in the query string (?access_token=) is not accepted", async () => {
    const response = await rawRequest(target.tb.url, { method: "GET", target: `/v1/secrets/a/token?access_token=${tokenA}` });
    expectBrokerError(response, 401, "unauthorized", target.material());
  });
});

// =============================================================================================

describe("after every authentication attack", () => {
  let target: AttackTarget;
  beforeAll(async () => {
    target = await startAttackTarget();
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  it("denied events are visible to auditors and hold no secret value, client secret or token", async () => {
    const wrong = testSecret("last-guess");
    await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-a", client_secret: wrong } });
    await readAs(target, unsecuredJwt({ typ: "at+jwt" }, { sub: "server-a" }));
    await readAs(target, await target.token("server-a"), ["b/token"]);
    const events = await deniedEventsViaApi(target.tb);
    expect(events.map((event) => (event as { action: string }).action)).toEqual(expect.arrayContaining(["auth.token", "auth.verify", "secret.read"]));
    expectNoSecretMaterial(JSON.stringify(events), [...target.material(), wrong], "the denied audit events");
  });

  it("the audit chain verifies", async () => {
    const { status, body } = await target.tb.admin<{ ok: boolean }>("GET", "/v1/audit/verify");
    expect(status).toBe(200);
    expect(body, JSON.stringify(body)).toMatchObject({ ok: true });
  });
});
