/**
 * The attacker's view of the secret-reading API: malformed bodies, content types, sizes, and
 * secret names built to escape a grant (traversal, encodings, NUL, unicode), sent to
 * `POST /v1/secrets/read` and `GET /v1/secrets/{path}` of a real broker.
 *
 * Every rejection must be a 4xx JSON error `{"error": {"code", "message", "request_id"}}` (never
 * a 500, never a stack trace), must reveal no secret value, must leave a `denied` audit record,
 * and must leave the broker serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chunkedBody,
  deniedEventsViaApi,
  expectBrokerError,
  expectDeniedAudit,
  expectHealthy,
  expectNoSecretMaterial,
  rawRequest,
  rawSocket,
  startAttackTarget,
  type AttackResponse,
  type AttackTarget,
} from "../helpers/attack-kit.js";

let target: AttackTarget;
let tokenA: string;

beforeAll(async () => {
  target = await startAttackTarget();
  tokenA = await target.token("server-a");
});
afterAll(async () => {
  await target?.tb.close();
});

const MAX_BODY_BYTES = 64 * 1024;

/** POST /v1/secrets/read as server-a with a raw body. */
function postRead(body: string | Buffer | AsyncIterable<Buffer> | undefined, contentType: string | null = "application/json"): Promise<AttackResponse> {
  return rawRequest(target.tb.url, {
    method: "POST",
    target: "/v1/secrets/read",
    headers: { authorization: `Bearer ${tokenA}`, ...(contentType !== null && { "content-type": contentType }) },
    ...(body !== undefined && { body }),
  });
}

/** GET /v1/secrets/<rest> as server-a, `rest` sent exactly as written. */
function getSecret(rest: string): Promise<AttackResponse> {
  return rawRequest(target.tb.url, { method: "GET", target: `/v1/secrets/${rest}`, headers: { authorization: `Bearer ${tokenA}` } });
}

describe("the broker serves normally before and after the attacks", () => {
  it("server-a reads its own secret (the baseline every attack is measured against)", async () => {
    const response = await postRead(JSON.stringify({ names: ["a/token"] }));
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({ secrets: { "a/token": { value: target.values.a } } });
  });
});

describe("POST /v1/secrets/read refuses malformed bodies", () => {
  const deepArray = `${"[".repeat(5000)}${"]".repeat(5000)}`;
  const cases: Array<{ name: string; body: string; status: number; code: string }> = [
    { name: "malformed JSON", body: '{"names": [', status: 400, code: "invalid_json" },
    { name: "an empty body", body: "", status: 400, code: "invalid_json" },
    { name: "JSON with a trailing comma", body: '{"names": ["a/token"],}', status: 400, code: "invalid_json" },
    { name: "JSON null", body: "null", status: 400, code: "invalid_request" },
    { name: "a top-level array", body: '["a/token"]', status: 400, code: "invalid_request" },
    { name: "a top-level string", body: '"a/token"', status: 400, code: "invalid_request" },
    { name: "names as a string (names: \"x\")", body: '{"names": "x"}', status: 400, code: "invalid_request" },
    { name: "names as an object", body: '{"names": {"0": "a/token"}}', status: 400, code: "invalid_request" },
    { name: "names as null", body: '{"names": null}', status: 400, code: "invalid_request" },
    { name: "a number in names (names: [1])", body: '{"names": [1]}', status: 400, code: "invalid_path" },
    { name: "null in names", body: '{"names": [null]}', status: 400, code: "invalid_path" },
    { name: "a nested array in names", body: '{"names": [["a/token"]]}', status: 400, code: "invalid_path" },
    { name: "an object in names", body: '{"names": [{"toString": "a/token"}]}', status: 400, code: "invalid_path" },
    { name: "a 5000-deep nested array in names", body: `{"names": [${deepArray}]}`, status: 400, code: "invalid_path" },
    { name: "a valid name next to a number", body: '{"names": ["a/token", 7]}', status: 400, code: "invalid_path" },
    { name: "the names field missing", body: "{}", status: 400, code: "invalid_request" },
    { name: "a misspelt field (name)", body: '{"name": ["a/token"]}', status: 400, code: "invalid_request" },
    { name: "an unknown field ({names, extra: 1})", body: '{"names": ["a/token"], "extra": 1}', status: 400, code: "invalid_request" },
    { name: "a __proto__ field", body: '{"names": ["a/token"], "__proto__": {"admin": true}}', status: 400, code: "invalid_request" },
    { name: "a constructor field", body: '{"names": ["a/token"], "constructor": {"prototype": {"admin": true}}}', status: 400, code: "invalid_request" },
    { name: "an empty names list", body: '{"names": []}', status: 400, code: "invalid_request" },
    { name: "101 names (more than 100)", body: JSON.stringify({ names: Array.from({ length: 101 }, (_, i) => `a/n${i}`) }), status: 400, code: "invalid_request" },
    { name: "10 000 names", body: JSON.stringify({ names: Array.from({ length: 10_000 }, () => "a") }), status: 400, code: "invalid_request" },
  ];

  describe.each(cases)("with $name", ({ body, status, code }) => {
    it(`answers ${status} ${code} and keeps serving`, async () => {
      const response = await postRead(body);
      expectBrokerError(response, status, code, target.material());
      await expectHealthy(target.tb);
    });

    it("records a denied audit event for the request", async () => {
      const response = await postRead(body);
      expect(response.status).toBe(status);
      await expectDeniedAudit(target.tb, response, target.material(), { actor: "server-a" });
    });
  });

  it("names the offending field in the message, never a value", async () => {
    const response = await postRead(JSON.stringify({ names: ["a/token"], extra: "x" }));
    const { error } = expectBrokerError(response, 400, "invalid_request", target.material());
    expect(error.message).toMatch(/extra|unrecognized|unknown/i);
  });
});

describe("POST /v1/secrets/read accepts only application/json (415)", () => {
  const body = JSON.stringify({ names: ["a/token"] });
  const cases: Array<{ name: string; contentType: string | null; body: string }> = [
    { name: "no Content-Type", contentType: null, body },
    { name: "text/plain", contentType: "text/plain", body },
    { name: "text/json", contentType: "text/json", body },
    { name: "a form (application/x-www-form-urlencoded)", contentType: "application/x-www-form-urlencoded", body: "names=a%2Ftoken" },
    { name: "multipart/form-data", contentType: "multipart/form-data; boundary=x", body: '--x\r\nContent-Disposition: form-data; name="names"\r\n\r\na/token\r\n--x--\r\n' },
    { name: "application/jsonp", contentType: "application/jsonp", body },
    { name: "application/json-patch+json", contentType: "application/json-patch+json", body },
    { name: "application/xml", contentType: "application/xml", body: "<names><name>a/token</name></names>" },
  ];

  describe.each(cases)("with $name", ({ contentType, body: sent }) => {
    it("answers 415 unsupported_media_type and keeps serving", async () => {
      const response = await postRead(sent, contentType);
      expectBrokerError(response, 415, "unsupported_media_type", target.material());
      await expectHealthy(target.tb);
    });

    it("records a denied audit event for the request", async () => {
      const response = await postRead(sent, contentType);
      expect(response.status).toBe(415);
      await expectDeniedAudit(target.tb, response, target.material());
    });
  });
});

describe(`request bodies larger than ${MAX_BODY_BYTES} bytes (64 KiB) are refused with 413`, () => {
  const oversized = JSON.stringify({ names: ["a".repeat(MAX_BODY_BYTES)] });
  const cases: Array<{ name: string; send: () => Promise<AttackResponse> }> = [
    { name: "a 64 KiB + 1 byte body with Content-Length", send: () => postRead(`${" ".repeat(MAX_BODY_BYTES + 1 - 2)}{}`) },
    { name: "a 1 MiB body with Content-Length", send: () => postRead(oversized.padEnd(1024 * 1024, " ")) },
    { name: "a 1 MiB chunked body (no Content-Length)", send: () => postRead(chunkedBody(1024 * 1024)) },
    {
      name: "a 1 MiB body with no Authorization header",
      send: () => rawRequest(target.tb.url, { method: "POST", target: "/v1/secrets/read", headers: { "content-type": "application/json" }, body: oversized }),
    },
    {
      name: "a 1 MiB body to the token endpoint",
      send: () => rawRequest(target.tb.url, { method: "POST", target: "/v1/auth/token", headers: { "content-type": "application/json" }, body: JSON.stringify({ grant_type: "client_credentials", client_id: "server-a", client_secret: "x".repeat(1024 * 1024) }) }),
    },
  ];

  describe.each(cases)("$name", ({ send }) => {
    it("answers 413 payload_too_large and keeps serving", async () => {
      expectBrokerError(await send(), 413, "payload_too_large", target.material());
      await expectHealthy(target.tb);
    });

    it("records a denied audit event for the request", async () => {
      const response = await send();
      expect(response.status).toBe(413);
      await expectDeniedAudit(target.tb, response, target.material());
    });
  });

  it("a body just under the limit is parsed (and its 60 000-character name refused as invalid_path)", async () => {
    const response = await postRead(JSON.stringify({ names: ["a".repeat(60_000)] }));
    expectBrokerError(response, 400, "invalid_path", target.material());
  });
});

/** Secret names that are not valid paths, as a JSON string in a batch read: each is 400 invalid_path. */
const BAD_NAMES: Array<[string, string]> = [
  ["a parent traversal ../x", "../x"],
  ["a traversal inside a/../b", "a/../b"],
  ["a traversal out of the grant a/../b/token", "a/../b/token"],
  ["a trailing traversal a/..", "a/.."],
  ["a lone ..", ".."],
  ["percent-encoded dots %2e%2e/x", "%2e%2e/x"],
  ["percent-encoded dots inside a/%2e%2e/b", "a/%2e%2e/b"],
  ["percent-encoded slashes a%2F..%2Fb", "a%2F..%2Fb"],
  ["an empty segment a//b", "a//b"],
  ["a leading slash /a", "/a"],
  ["a trailing slash a/", "a/"],
  ["a lone .", "."],
  ["a dot segment a/./b", "a/./b"],
  ["a dot segment before the key a/.#k", "a/.#k"],
  ["a NUL byte a\\0b", "a\u0000b"],
  ["a NUL byte at the end a/token\\0", "a/token\u0000"],
  ["a percent-encoded NUL a%00b", "a%00b"],
  ["backslashes a\\..\\b", "a\\..\\b"],
  ["a newline", "a/token\n"],
  ["a space", "a/ token"],
  ["a tab", "a/\ttoken"],
  ["513 characters (one over the limit)", "a".repeat(513)],
  ["10 001 characters", `${"a/".repeat(5000)}x`],
  ["a non-ASCII letter (github/tökén)", "github/tökén"],
  ["fullwidth dots a/．．/b", "a/\uFF0E\uFF0E/b"],
  ["a one-dot leader a/\u2024\u2024/b", "a/\u2024\u2024/b"],
  ["a right-to-left override", "a/\u202Etoken"],
  ["a zero-width space", "a/\u200Btoken"],
  ["an emoji", "a/🔑"],
  ["a glob a/*", "a/*"],
  ["a globstar **", "**"],
  ["a URL", "http://evil.example/x"],
  ["an empty string", ""],
  ["an empty key a/token#", "a/token#"],
  ["two keys a/token#x#y", "a/token#x#y"],
  ["a key only #token", "#token"],
  ["a traversal in the key a/token#../x", "a/token#../x"],
];

describe("POST /v1/secrets/read refuses names that are not secret paths (400 invalid_path)", () => {
  describe.each(BAD_NAMES)("with %s", (_label, name) => {
    it("answers 400 invalid_path, keeps serving, and audits the name as denied", async () => {
      const response = await postRead(JSON.stringify({ names: [name] }));
      expectBrokerError(response, 400, "invalid_path", target.material());
      await expectHealthy(target.tb);
      await expectDeniedAudit(target.tb, response, target.material(), { action: "secret.read", actor: "server-a", reason: /invalid_path/ });
    });
  });

  it("refuses the whole batch when one name is bad: nothing is released, no lease is created", async () => {
    const leasesOfA = async () => (await target.tb.call<{ leases: unknown[] }>("GET", "/v1/leases", { token: tokenA })).body.leases.length;
    const before = await leasesOfA();
    const response = await postRead(JSON.stringify({ names: ["a/token", "a/../b/token"] }));
    expectBrokerError(response, 400, "invalid_path", target.material());
    expect(await leasesOfA()).toBe(before);
  });

  it("does not echo more than the name: a 10 001-character name does not come back whole", async () => {
    const name = `${"a/".repeat(5000)}x`;
    const response = await postRead(JSON.stringify({ names: [name] }));
    expectBrokerError(response, 400, "invalid_path", target.material());
    expect(response.text.length).toBeLessThan(2000);
  });
});

/**
 * The same names in the URL of `GET /v1/secrets/{path}`. The request target is sent verbatim
 * (node:http, not fetch). Dot segments (`..`, `.`, `%2e%2e`) are removed by URL normalisation
 * (RFC 3986 5.2.4, done by @hono/node-server) before routing, so they never reach the handler:
 * either the result leaves the secrets routes (404 route mismatch) or it names another secret,
 * which is then authorised as that secret. Everything else reaches the handler and is 400
 * invalid_path.
 */
describe("GET /v1/secrets/{path} refuses paths that are not secret paths", () => {
  const reachHandler: Array<[string, string]> = [
    ["an empty segment a//b", "a//b"],
    ["a leading slash /a (target /v1/secrets//a)", "/a"],
    ["a trailing slash a/", "a/"],
    ["a percent-encoded NUL a%00b", "a%00b"],
    ["a percent-encoded NUL at the end a/token%00", "a/token%00"],
    ["percent-encoded slashes a%2F..%2Fb%2Ftoken", "a%2F..%2Fb%2Ftoken"],
    ["percent-encoded dots and slash %2e%2e%2Fx", "%2e%2e%2Fx"],
    ["double-encoded dots %252e%252e/x", "%252e%252e/x"],
    ["percent-encoded backslashes a%5C..%5Cb", "a%5C..%5Cb"],
    ["a percent-encoded space a/%20token", "a/%20token"],
    ["malformed percent-encoding a/%ZZ", "a/%ZZ"],
    ["a lone percent sign a/%", "a/%"],
    ["600 characters", "a".repeat(600)],
    ["5001 characters", `${"a/".repeat(2500)}x`],
    ["a non-ASCII letter github/t%C3%B6k%C3%A9n", "github/t%C3%B6k%C3%A9n"],
    ["fullwidth dots a/%EF%BC%8E%EF%BC%8E/b", "a/%EF%BC%8E%EF%BC%8E/b"],
    ["a right-to-left override a/%E2%80%AEtoken", "a/%E2%80%AEtoken"],
    ["an invalid UTF-8 sequence a/%C0%AE%C0%AE", "a/%C0%AE%C0%AE"],
    ["a glob a/*", "a/*"],
    ["an empty key a/token%23", "a/token%23"],
    ["a traversal in the key a/token%23..%2Fx", "a/token%23..%2Fx"],
  ];

  describe.each(reachHandler)("with %s (reaches the handler)", (_label, rest) => {
    it("answers 400 invalid_path, keeps serving, and audits it as denied", async () => {
      const response = await getSecret(rest);
      expectBrokerError(response, 400, "invalid_path", target.material());
      await expectHealthy(target.tb);
      await expectDeniedAudit(target.tb, response, target.material(), { action: "secret.read", actor: "server-a", reason: /invalid_path/ });
    });
  });

  const routeMismatch: Array<[string, string]> = [
    ["a parent traversal ../x (normalised to /v1/x)", "../x"],
    ["percent-encoded dots %2e%2e/x (normalised to /v1/x)", "%2e%2e/x"],
    ["uppercase percent-encoded dots %2E%2E/x (normalised to /v1/x)", "%2E%2E/x"],
    ["mixed dots .%2e/x (normalised to /v1/x)", ".%2e/x"],
    ["a lone .. (normalised to /v1/)", ".."],
    ["two traversals ../../etc/passwd (normalised to /etc/passwd)", "../../etc/passwd"],
    ["a percent-encoded newline a/token%0A (decoded before routing; the route pattern does not match it)", "a/token%0A"],
  ];

  describe.each(routeMismatch)("with %s: a route-level mismatch, never reaches the handler", (_label, rest) => {
    it("answers 404 not_found and keeps serving", async () => {
      const response = await getSecret(rest);
      expectBrokerError(response, 404, "not_found", target.material());
      await expectHealthy(target.tb);
    });

    it("records a denied audit event for the request", async () => {
      const response = await getSecret(rest);
      expect(response.status).toBe(404);
      await expectDeniedAudit(target.tb, response, target.material());
    });
  });

  const normalisedToAnotherSecret: Array<[string, string]> = [
    ["a/../b/token", "a/../b/token"],
    ["a/%2e%2e/b/token", "a/%2e%2e/b/token"],
    ["a/./../b/token", "a/./../b/token"],
    ["b/./token", "b/./token"],
    ["a lone .", "."],
    ["a/token/../../b/token", "a/token/../../b/token"],
  ];

  describe.each(normalisedToAnotherSecret)("with %s: the URL would normalise to another secret, so the raw path is refused", (_label, rest) => {
    it("answers 400 invalid_path (never reads b/token or a/...), audited as denied", async () => {
      const response = await getSecret(rest);
      expectBrokerError(response, 400, "invalid_path", target.material());
      expect(response.text).not.toContain(target.values.b);
      await expectHealthy(target.tb);
      await expectDeniedAudit(target.tb, response, target.material(), { actor: "server-a", reason: /invalid_path/ });
    });
  });
});

describe("requests the HTTP layer refuses before the broker sees them", () => {
  const tokenHeader = () => `Authorization: Bearer ${tokenA}\r\n`;
  const cases: Array<{ name: string; request: () => Buffer }> = [
    { name: "a raw NUL byte in the request target", request: () => Buffer.from(`GET /v1/secrets/a\u0000b HTTP/1.1\r\nHost: 127.0.0.1\r\n${tokenHeader()}Connection: close\r\n\r\n`, "latin1") },
    { name: "a raw backslash traversal in the request target", request: () => Buffer.from(`GET /v1/secrets/a\\..\\..\\b HTTP/1.1\r\nHost: 127.0.0.1\r\n${tokenHeader()}Connection: close\r\n\r\n`, "latin1") },
    { name: "a raw space in the request target", request: () => Buffer.from(`GET /v1/secrets/a b/token HTTP/1.1\r\nHost: 127.0.0.1\r\n${tokenHeader()}Connection: close\r\n\r\n`, "latin1") },
    { name: "a 64 KiB request target", request: () => Buffer.from(`GET /v1/secrets/${"a".repeat(64 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n${tokenHeader()}Connection: close\r\n\r\n`, "latin1") },
    { name: "an invalid Host header", request: () => Buffer.from(`GET /v1/secrets/a/token HTTP/1.1\r\nHost: evil/../x\r\n${tokenHeader()}Connection: close\r\n\r\n`, "latin1") },
    { name: "a truncated request line", request: () => Buffer.from("GET /v1/secrets/a/tok", "latin1") },
  ];

  it.each(cases)("$name is refused with a 4xx (or the connection is closed), never a 500, and the broker keeps serving", async ({ request }) => {
    const { status, text } = await rawSocket(target.tb.url, request());
    expect(status === 0 || (status >= 400 && status < 500), `status ${status}: ${text.slice(0, 200)}`).toBe(true);
    expectNoSecretMaterial(text, target.material(), "the response");
    await expectHealthy(target.tb);
  });
});

/**
 * The audit chain hashes each record as the broker built it; what the store gives back must hash
 * the same, whatever a caller put into a name or a client id. Each case gets its own broker, since
 * one unverifiable record makes every later verification fail.
 */
describe("hostile text in audited fields does not break the audit chain", () => {
  const cases: Array<{ name: string; send: (t: AttackTarget, token: string) => Promise<AttackResponse>; status: number }> = [
    { name: "a secret name with a lone surrogate (a/\\uD800), from an authenticated server", send: (t, token) => rawRequest(t.tb.url, { method: "POST", target: "/v1/secrets/read", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ names: ["a/\uD800"] }) }), status: 400 },
    { name: "a secret name with a lone low surrogate (a/\\uDC00x)", send: (t, token) => rawRequest(t.tb.url, { method: "POST", target: "/v1/secrets/read", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ names: ["a/\uDC00x"] }) }), status: 400 },
    { name: "a client id with a lone surrogate, from an unauthenticated caller", send: (t) => rawRequest(t.tb.url, { method: "POST", target: "/v1/auth/token", headers: { "content-type": "application/json" }, body: JSON.stringify({ grant_type: "client_credentials", client_id: "server-\uD800", client_secret: "x" }) }), status: 401 },
    { name: "a client id with a NUL byte", send: (t) => rawRequest(t.tb.url, { method: "POST", target: "/v1/auth/token", headers: { "content-type": "application/json" }, body: JSON.stringify({ grant_type: "client_credentials", client_id: "server-a\u0000admin", client_secret: "x" }) }), status: 401 },
    { name: "a secret name with a NUL byte", send: (t, token) => rawRequest(t.tb.url, { method: "POST", target: "/v1/secrets/read", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ names: ["a/\u0000token"] }) }), status: 400 },
    { name: "a 10 000-character secret name (clipped in the record)", send: (t, token) => rawRequest(t.tb.url, { method: "POST", target: "/v1/secrets/read", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ names: ["é".repeat(10_000)] }) }), status: 400 },
  ];

  it.each(cases)("$name: rejected, and GET /v1/audit/verify still reports ok", async ({ send, status }) => {
    const own = await startAttackTarget();
    try {
      const response = await send(own, await own.token("server-a"));
      expect(response.status, response.text).toBe(status);
      const { body } = await own.tb.admin<{ ok: boolean }>("GET", "/v1/audit/verify");
      expect(body, JSON.stringify(body)).toMatchObject({ ok: true });
    } finally {
      await own.tb.close();
    }
  });
});

describe("after every attack", () => {
  it("the broker still serves server-a", async () => {
    await expectHealthy(target.tb);
    const response = await postRead(JSON.stringify({ names: ["a/token"] }));
    expect(response.status, response.text).toBe(200);
  });

  it("no denied audit event (read through GET /v1/audit/events?outcome=denied) holds a secret value, client secret or token", async () => {
    const events = await deniedEventsViaApi(target.tb);
    expect(events.length).toBeGreaterThan(0);
    expectNoSecretMaterial(JSON.stringify(events), target.material(), "the denied audit events");
  });

  it("no audit record at all holds a secret value, client secret or token", async () => {
    const records = await target.tb.broker.store.queryAudit({ limit: 1_000_000 });
    expectNoSecretMaterial(JSON.stringify(records), target.material(), "the audit trail");
  });

  it("the audit chain still verifies", async () => {
    const { status, body } = await target.tb.admin<{ ok: boolean }>("GET", "/v1/audit/verify");
    expect(status).toBe(200);
    expect(body, JSON.stringify(body).slice(0, 3000)).toMatchObject({ ok: true });
  });
});
