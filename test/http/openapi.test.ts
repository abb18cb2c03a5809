/**
 * The published OpenAPI document is the contract: every route is in it, and live answers of the
 * main routes match the response schema it publishes for their status, with no field it does not
 * announce (every object in it is closed: additionalProperties false).
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/http/app.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";

const POLICY = `
servers:
  reader-mcp:
    allow:
      - secrets: ["app/**"]
        actions: [read]
    deny:
      - secrets: ["app/admin/**"]
`;

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; scheme?: string }> };
}

describe("the OpenAPI document at /v1/openapi.json", () => {
  let b: TestBroker;
  let doc: OpenApiDocument;
  let token: string;
  let clientSecret: string;
  const ajv = new Ajv2020({ strict: false, allErrors: true });

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY });
    const response = await fetch(`${b.url}/v1/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    doc = (await response.json()) as OpenApiDocument;
    ajv.addSchema({ $id: "openapi", components: doc.components });
    clientSecret = await b.registerServer("reader-mcp");
    await b.putSecret("app/key", testSecret("app"));
    await b.putSecret("app/json", JSON.stringify({ user: "u", password: testSecret("pw") }));
    token = await b.serverToken("reader-mcp", clientSecret);
  });
  afterAll(() => b.close());

  /** The schema the document publishes for `method path` answering `status` (JSON). */
  const schemaFor = (method: string, template: string, status: number): unknown => {
    const operation = doc.paths[template]?.[method.toLowerCase()];
    expect(operation, `${method} ${template} is not in the document`).toBeDefined();
    const schema = operation!.responses[String(status)]?.content?.["application/json"]?.schema;
    expect(schema, `${method} ${template} publishes no JSON schema for ${status}`).toBeDefined();
    // Local references resolve against the components registered as "openapi".
    return JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', '"$ref":"openapi#/'));
  };

  const problemsOf = (schema: unknown, body: unknown): string[] => {
    const validate = ajv.compile(schema as object);
    return validate(body) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath || "/"} ${error.message ?? ""} ${JSON.stringify(error.params)}`);
  };

  /** Calls the broker and checks the answer against the document. */
  const conforms = async <T = unknown>(method: string, template: string, path: string, options: Parameters<TestBroker["call"]>[2] = {}, status = 200): Promise<T> => {
    const response = await b.call<T>(method, path, options);
    expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(status);
    expect(problemsOf(schemaFor(method, template, status), response.body), `${method} ${path} answered ${JSON.stringify(response.body)}`).toEqual([]);
    return response.body;
  };
  const admin = (body?: unknown) => ({ token: b.adminToken, ...(body !== undefined && { body }) });

  it("is OpenAPI 3.1 with the server and operator bearer schemes", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes.serverToken).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.securitySchemes.operatorToken).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/v1/secrets/read"]!.post!.security).toEqual([{ serverToken: [] }]);
    expect(doc.paths["/v1/admin/servers"]!.get!.security).toEqual([{ operatorToken: [] }]);
  });

  it("documents every route the app serves", () => {
    const served = createApp(b.broker.deps)
      // Middleware (app.use, the body limit on /v1/*) is registered as routes too: leave it out.
      .routes.filter((entry) => entry.method !== "ALL" && !entry.path.endsWith("*"))
      .map((entry) => `${entry.method} ${entry.path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}")}`);
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
    expect([...new Set(served)].sort()).toEqual([...new Set(documented)].sort());
  });

  it("catches a field a route sends without announcing it", () => {
    const schema = schemaFor("GET", "/healthz", 200);
    expect(problemsOf(schema, { status: "ok" })).toEqual([]);
    expect(problemsOf(schema, { status: "ok", uptime: 1 })).not.toEqual([]);
    const lease = schemaFor("GET", "/v1/leases", 200);
    expect(problemsOf(lease, { leases: [{ lease_id: "x" }] })).not.toEqual([]);
  });

  it("matches the token endpoint and the published keys", async () => {
    await conforms("POST", "/v1/auth/token", "/v1/auth/token", { body: { grant_type: "client_credentials", client_id: "reader-mcp", client_secret: clientSecret } });
    await conforms("POST", "/v1/auth/token", "/v1/auth/token", { body: { grant_type: "client_credentials", client_id: "reader-mcp", client_secret: "cbs_wrong" } }, 401);
    await conforms("POST", "/v1/auth/token", "/v1/auth/token", { body: { grant_type: "password" } }, 400);
    await conforms("GET", "/.well-known/jwks.json", "/.well-known/jwks.json");
  });

  it("matches secret reads, batch and single, their refusals, and the caller's leases", async () => {
    const batch = await conforms<{ secrets: Record<string, { lease_id: string }> }>("POST", "/v1/secrets/read", "/v1/secrets/read", { token, body: { names: ["app/key", "app/json#password"] } });
    await conforms("GET", "/v1/secrets/{path}", "/v1/secrets/app/key", { token });
    await conforms("POST", "/v1/secrets/read", "/v1/secrets/read", { token, body: { names: ["app/key", "app/admin/x"] } }, 403);
    await conforms("POST", "/v1/secrets/read", "/v1/secrets/read", { token, body: { names: ["app/missing"] } }, 404);
    await conforms("POST", "/v1/secrets/read", "/v1/secrets/read", { token, body: { names: [] } }, 400);
    await conforms("GET", "/v1/secrets/{path}", "/v1/secrets/app/key", {}, 401);
    await conforms("GET", "/v1/leases", "/v1/leases", { token });
    await conforms("POST", "/v1/leases/{id}/renew", `/v1/leases/${batch.secrets["app/key"]!.lease_id}/renew`, { token, body: { increment: 60 } });
    await conforms("POST", "/v1/leases/{id}/renew", "/v1/leases/lease_none/renew", { token }, 404);
  });

  it("matches the admin routes: servers, secrets, leases, operators, keys, policy", async () => {
    await conforms("POST", "/v1/admin/servers", "/v1/admin/servers", admin({ id: "other-mcp", labels: { team: "x" } }), 201);
    await conforms("GET", "/v1/admin/servers", "/v1/admin/servers", admin());
    // A page with a next_cursor, and a cursor that is not one.
    const page = await conforms<{ next_cursor: string | null }>("GET", "/v1/admin/servers", "/v1/admin/servers?limit=1", admin());
    expect(page.next_cursor).toEqual(expect.any(String));
    await conforms("GET", "/v1/admin/servers", `/v1/admin/servers?limit=1&cursor=${page.next_cursor}`, admin());
    await conforms("GET", "/v1/admin/leases", "/v1/admin/leases?cursor=forged", admin(), 400);
    await conforms("GET", "/v1/admin/servers/{id}", "/v1/admin/servers/other-mcp", admin());
    await conforms("POST", "/v1/admin/servers/{id}/rotate-credentials", "/v1/admin/servers/other-mcp/rotate-credentials", admin());
    await conforms("POST", "/v1/admin/servers/{id}/disable", "/v1/admin/servers/other-mcp/disable", admin());
    await conforms("GET", "/v1/admin/servers/{id}", "/v1/admin/servers/ghost-mcp", admin(), 404);
    await conforms("POST", "/v1/admin/servers", "/v1/admin/servers", admin({ id: "gone-mcp" }), 201);
    await conforms("DELETE", "/v1/admin/servers/{id}", "/v1/admin/servers/gone-mcp", admin());
    await conforms("DELETE", "/v1/admin/servers/{id}", "/v1/admin/servers/gone-mcp", admin(), 404);

    await conforms("POST", "/v1/admin/secrets", "/v1/admin/secrets", admin({ path: "app/generated", generate: 16, owner: "team-x" }), 201);
    await conforms("GET", "/v1/admin/secrets", "/v1/admin/secrets?prefix=app/", admin());
    await conforms("GET", "/v1/admin/secrets/{path}", "/v1/admin/secrets/app/generated", admin());
    await conforms("POST", "/v1/admin/secrets/read", "/v1/admin/secrets/read", admin({ path: "app/generated" }));
    await conforms("POST", "/v1/admin/secrets", "/v1/admin/secrets", admin({ path: "app/x", value: "a", generate: 10 }), 400);
    await conforms("POST", "/v1/admin/secrets/{path}/rollback", "/v1/admin/secrets/app/generated/rollback", admin({ to: 1 }), 201);
    await conforms("POST", "/v1/admin/secrets/{path}/destroy", "/v1/admin/secrets/app/generated/destroy", admin({ version: 1 }));
    await conforms("POST", "/v1/admin/secrets/{path}/destroy", "/v1/admin/secrets/app/generated/destroy", admin({ version: 1 }), 404);

    await conforms("GET", "/v1/admin/leases", "/v1/admin/leases?server=reader-mcp&all=true", admin());
    await conforms("POST", "/v1/admin/leases/revoke", "/v1/admin/leases/revoke", admin({ secret: "app/json" }));

    await conforms("POST", "/v1/admin/operators", "/v1/admin/operators", admin({ name: "aud2", role: "auditor" }), 201);
    await conforms("GET", "/v1/admin/operators", "/v1/admin/operators", admin());
    await conforms("POST", "/v1/admin/operators", "/v1/admin/operators", admin({ name: "aud3", role: "auditor", ttl: "30d" }), 201);
    await conforms("POST", "/v1/admin/operators/{name}/rotate", "/v1/admin/operators/aud3/rotate", admin({ ttl: "1d" }));
    await conforms("POST", "/v1/admin/operators/{name}/rotate", "/v1/admin/operators/ghost/rotate", admin(), 404);
    await conforms("GET", "/v1/admin/whoami", "/v1/admin/whoami", admin());
    await conforms("GET", "/v1/admin/status", "/v1/admin/status", admin());
    await conforms("GET", "/v1/admin/status", "/v1/admin/status", {}, 401);
    const { leases } = await conforms<{ leases: Array<{ lease_id: string; secret: string }> }>("GET", "/v1/admin/leases", "/v1/admin/leases?secret=app/key", admin());
    expect(leases.length).toBeGreaterThan(0);
    await conforms("POST", "/v1/admin/leases/{id}/renew", `/v1/admin/leases/${leases[0]!.lease_id}/renew`, admin({ increment: 60 }));
    await conforms("POST", "/v1/admin/leases/{id}/renew", "/v1/admin/leases/no-such-lease/renew", admin(), 404);

    await conforms("POST", "/v1/admin/keys/rotate", "/v1/admin/keys/rotate?target=signing", admin());
    await conforms("GET", "/v1/admin/policy/explain", "/v1/admin/policy/explain?server=reader-mcp&secret=app/admin/x", admin());
    await conforms("GET", "/v1/admin/policy/explain", "/v1/admin/policy/explain?server=reader-mcp&secret=app/key", admin());
    await conforms("POST", "/v1/admin/policy/reload", "/v1/admin/policy/reload", admin());
  });

  it("matches the audit routes and health", async () => {
    await conforms("GET", "/v1/audit/events", "/v1/audit/events?limit=1000", admin());
    await conforms("GET", "/v1/audit/access-report", "/v1/audit/access-report?secret=app/key&since=30d", admin());
    await conforms("GET", "/v1/audit/verify", "/v1/audit/verify", admin());
    await conforms("GET", "/v1/audit/events", "/v1/audit/events?outcome=maybe", admin(), 400);
    await conforms("GET", "/healthz", "/healthz");
    await conforms("GET", "/readyz", "/readyz");
  });
});
