/**
 * Tools for the attacker's test suite (test/http/attacks*.test.ts): a target broker with two
 * servers and their secrets, raw HTTP requests that bypass fetch's URL normalisation, JWT
 * crafting, and the assertions every rejection must pass (JSON error shape, no secret material,
 * a denied audit record, a broker that still answers).
 */
import { createHmac } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { expect } from "vitest";
import type { AuditRecord } from "../../src/domain.js";
import { startTestBroker, testSecret, type StartOptions, type TestBroker } from "./broker.js";

/**
 * Server-a may read `a/**` except `a/admin/**`; server-b may read `b/**`; `jwt-server` may read
 * `jwt/**`; `office-server` may read `office/**` only from 10.0.0.0/8.
 */
export const ATTACK_POLICY = `
servers:
  server-a:
    allow:
      - secrets: ["a/**"]
        actions: [read]
    deny:
      - secrets: ["a/admin/**"]
  server-b:
    allow:
      - secrets: ["b/**"]
        actions: [read]
  jwt-server:
    allow:
      - secrets: ["jwt/**"]
        actions: [read]
  office-server:
    allow:
      - secrets: ["office/**"]
        actions: [read]
        when: { source_cidr: ["10.0.0.0/8"] }
roles:
  auditor: [audit]
`;

export type ServerName = "server-a" | "server-b";

export interface AttackTarget {
  tb: TestBroker;
  /** Secret values stored in the broker: `a/token`, `a/admin/key`, `b/token`. */
  values: { a: string; aAdmin: string; b: string };
  clientSecrets: Record<ServerName, string>;
  /** A fresh broker token of the server. */
  token(server: ServerName): Promise<string>;
  /** Every value no rejection may reveal: stored secrets and client secrets. */
  material(): string[];
}

/** Starts a broker with {@link ATTACK_POLICY}, servers a and b, and one secret each (plus a denied one for a). */
export async function startAttackTarget(options: StartOptions = {}): Promise<AttackTarget> {
  const tb = await startTestBroker({ policy: ATTACK_POLICY, ...options });
  const values = { a: testSecret("a-token"), aAdmin: testSecret("a-admin-key"), b: testSecret("b-token") };
  const clientSecrets = { "server-a": await tb.registerServer("server-a"), "server-b": await tb.registerServer("server-b") };
  await tb.putSecret("a/token", values.a);
  await tb.putSecret("a/admin/key", values.aAdmin);
  await tb.putSecret("b/token", values.b);
  return {
    tb,
    values,
    clientSecrets,
    token: (server) => tb.serverToken(server, clientSecrets[server]),
    material: () => [values.a, values.aAdmin, values.b, clientSecrets["server-a"], clientSecrets["server-b"], tb.adminToken],
  };
}

// --- raw HTTP -------------------------------------------------------------------------------

export interface AttackResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: unknown;
}

export interface RawRequest {
  method: string;
  /** The request target exactly as sent: no normalisation of `..`, `%2e`, `//`. */
  target: string;
  headers?: Record<string, string>;
  body?: string | Buffer | AsyncIterable<Buffer>;
}

/** Sends one request with node:http (one connection, target verbatim). */
export function rawRequest(baseUrl: string, request: RawRequest): Promise<AttackResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: hostname, port: Number(port), method: request.method, path: request.target, headers: request.headers ?? {}, agent: false },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("error", reject);
        incoming.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, text, body: parseJson(text) });
        });
      },
    );
    outgoing.on("error", reject);
    const body = request.body;
    if (body === undefined) outgoing.end();
    else if (typeof body === "string" || Buffer.isBuffer(body)) outgoing.end(body);
    else {
      void (async () => {
        try {
          for await (const chunk of body) if (!outgoing.write(chunk)) await new Promise((next) => outgoing.once("drain", next));
          outgoing.end();
        } catch {
          /* the server may close the connection early (413): the response still arrives */
        }
      })();
    }
  });
}

/**
 * Writes bytes straight to a socket (for request lines node:http refuses to send, e.g. a raw
 * NUL byte) and returns the status of whatever answer comes back (0 when the connection is
 * closed without one).
 */
export function rawSocket(baseUrl: string, bytes: Buffer): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" ? undefined : reject(error)));
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: status ? Number(status[1]) : 0, text });
    });
  });
}

function parseJson(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

/** A body that arrives in chunks with no Content-Length (Transfer-Encoding: chunked). */
export async function* chunkedBody(totalBytes: number, chunkBytes = 16 * 1024): AsyncIterable<Buffer> {
  const prefix = Buffer.from('{"names":["');
  yield prefix;
  for (let sent = prefix.length; sent < totalBytes; sent += chunkBytes) yield Buffer.alloc(chunkBytes, "a");
  yield Buffer.from('"]}');
}

// --- assertions -----------------------------------------------------------------------------

/** Things that must never appear in a rejection, an error message or an audit record. */
export const SECRET_MATERIAL: Array<[string, RegExp]> = [
  ["a test secret value", /s3cr3t-VALUE-/],
  ["a client secret", /cbs_[A-Za-z0-9_-]{20,}/],
  ["an operator token", /cbo_[A-Za-z0-9_-]{20,}/],
  ["a JWT", /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}/],
];

/** Asserts that `text` holds none of `values` and nothing that looks like a secret or a credential. */
export function expectNoSecretMaterial(text: string, values: string[], where: string): void {
  for (const value of values) expect(text.includes(value), `${where} contains a secret value`).toBe(false);
  for (const [what, pattern] of SECRET_MATERIAL) expect(pattern.test(text), `${where} contains ${what}: ${text.slice(0, 300)}`).toBe(false);
}

export interface BrokerErrorJson {
  error: { code: string; message: string; request_id: string; [extra: string]: unknown };
}

/**
 * The contract of every rejection on the broker's JSON API: the given status and code in
 * `{"error": {"code", "message", "request_id"}}`, the request id echoed in `x-request-id`, JSON
 * content, and no secret material anywhere in the body.
 */
export function expectBrokerError(response: AttackResponse, status: number, code: string, material: string[]): BrokerErrorJson {
  const context = `${response.status} ${response.text.slice(0, 500)}`;
  expect(response.status, context).toBe(status);
  expect(String(response.headers["content-type"]), context).toMatch(/^application\/json/);
  expect(response.body, context).toEqual({
    error: expect.objectContaining({ code, message: expect.any(String), request_id: expect.any(String) }),
  });
  const body = response.body as BrokerErrorJson;
  expect(body.error.message.length, context).toBeGreaterThan(0);
  expect(body.error.request_id, context).toBe(response.headers["x-request-id"]);
  expect(response.text, context).not.toMatch(/\bat .+:\d+:\d+\)?/); // no stack trace
  expectNoSecretMaterial(response.text, material, "the response");
  return body;
}

export interface OAuthErrorJson {
  error: string;
  error_description: string;
  request_id?: string;
}

/** RFC 6749 section 5.2: `{"error": "<code>", "error_description": "..."}`, not cacheable, no secret material. */
export function expectOAuthError(response: AttackResponse, status: number, error: string, material: string[]): OAuthErrorJson {
  const context = `${response.status} ${response.text.slice(0, 500)}`;
  expect(response.status, context).toBe(status);
  expect(String(response.headers["content-type"]), context).toMatch(/^application\/json/);
  expect(response.body, context).toMatchObject({ error, error_description: expect.any(String) });
  expect(response.headers["cache-control"], context).toBe("no-store");
  expectNoSecretMaterial(response.text, material, "the token endpoint response");
  return response.body as OAuthErrorJson;
}

/** The request id the broker assigned to a response (header, echoed in error bodies). */
export function requestIdOf(response: AttackResponse): string {
  const id = response.headers["x-request-id"];
  expect(typeof id, "every response carries x-request-id").toBe("string");
  return id as string;
}

/** Every audit record written for one request. */
export async function auditRecordsOf(tb: TestBroker, requestId: string): Promise<AuditRecord[]> {
  const records = await tb.broker.store.queryAudit({ limit: 1_000_000 });
  return records.filter((record) => record.requestId === requestId);
}

export interface AuditExpectation {
  action?: string;
  actor?: string;
  resource?: string;
  reason?: RegExp;
}

/**
 * Asserts that the request left at least one `denied` audit record (matching `expected`), that
 * it released nothing (no `allowed` secret.read), and that none of its records holds secret material.
 */
export async function expectDeniedAudit(tb: TestBroker, response: AttackResponse, material: string[], expected: AuditExpectation = {}): Promise<AuditRecord[]> {
  const requestId = requestIdOf(response);
  const records = await auditRecordsOf(tb, requestId);
  const summary = JSON.stringify(records.map(({ action, actor, resource, outcome, reason }) => ({ action, actor, resource, outcome, reason })));
  const denied = records.filter((record) => record.outcome === "denied");
  expect(denied.length, `no denied audit record for request ${requestId} (${response.status}); records: ${summary}`).toBeGreaterThan(0);
  expect(denied, summary).toContainEqual(
    expect.objectContaining({
      ...(expected.action !== undefined && { action: expected.action }),
      ...(expected.actor !== undefined && { actor: expected.actor }),
      ...(expected.resource !== undefined && { resource: expected.resource }),
      ...(expected.reason !== undefined && { reason: expect.stringMatching(expected.reason) }),
    }),
  );
  expect(records.filter((record) => record.action === "secret.read" && record.outcome === "allowed"), "a rejected request released a secret").toEqual([]);
  expectNoSecretMaterial(JSON.stringify(records), material, "the audit records");
  return records;
}

/** Reads every denied event through the auditor API (cursor pagination). */
export async function deniedEventsViaApi(tb: TestBroker): Promise<unknown[]> {
  const events: unknown[] = [];
  let cursor: number | null = 0;
  while (cursor !== null) {
    const page: { status: number; body: { events: unknown[]; next_cursor: number | null } } = await tb.admin("GET", `/v1/audit/events?outcome=denied&limit=1000&cursor=${cursor}`);
    const { status, body } = page;
    expect(status).toBe(200);
    events.push(...body.events);
    cursor = body.events.length === 0 ? null : body.next_cursor;
  }
  return events;
}

/** The broker still serves: /healthz answers 200. */
export async function expectHealthy(tb: TestBroker): Promise<void> {
  const { status, body } = await tb.call("GET", "/healthz");
  expect(status).toBe(200);
  expect(body).toEqual({ status: "ok" });
}

// --- JWTs -----------------------------------------------------------------------------------

export const b64url = (value: string | Buffer | object): string =>
  (typeof value === "string" || Buffer.isBuffer(value) ? Buffer.from(value) : Buffer.from(JSON.stringify(value))).toString("base64url");

export function splitJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string } {
  const [header, payload, signature] = token.split(".");
  return {
    header: JSON.parse(Buffer.from(header!, "base64url").toString("utf8")) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as Record<string, unknown>,
    signature: signature!,
  };
}

/** An unsecured JWT (`alg: none`, empty signature). */
export function unsecuredJwt(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${b64url({ ...header, alg: "none" })}.${b64url(payload)}.`;
}

/** An HS256 JWT whose HMAC key is `key`: the classic "verify with the public key as a MAC secret" confusion. */
export function hs256Jwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: Buffer | string): string {
  const input = `${b64url({ ...header, alg: "HS256" })}.${b64url(payload)}`;
  return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

export const nowSeconds = (now = Date.now()) => Math.floor(now / 1000);
