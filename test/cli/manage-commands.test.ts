/**
 * The CLI's verbs over a real `credbroker dev`: operator add --ttl and rotate, server show, lease
 * renew, and list commands with --limit; and how list commands follow `next_cursor` pages, against
 * a broker API stand-in that pages the way the list routes' contract says (`{KEY: [...],
 * next_cursor}`, `limit` and `cursor` query parameters).
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startDev, type DevBroker } from "../helpers/cli.js";

const POLICY = `
servers:
  cli-mcp:
    allow:
      - secrets: ["cli/*"]
        actions: [read]
        max_ttl: 1h
`;

const errorOf = (stderr: string) => (JSON.parse(stderr) as { error: { code: string; message: string } }).error;

describe("credbroker operator, server, lease commands", () => {
  let dev: DevBroker;

  beforeAll(async () => {
    dev = await startDev(POLICY);
  });
  afterAll(() => dev.stop());

  const cli = (args: string[], env: NodeJS.ProcessEnv = dev.env, input?: string) => runCli(args, { env, ...(input !== undefined && { input }) });

  it("operator add --ttl prints the token and its expiry once; rotate prints a new one and the old one is refused", async () => {
    const added = await cli(["operator", "add", "cli-sec", "--role", "security", "--ttl", "30d", "--json"]);
    expect(added.code, added.stderr).toBe(0);
    const { token, expires_at } = JSON.parse(added.stdout) as { token: string; expires_at: string };
    expect(Date.parse(expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    const as = (operatorToken: string) => ({ CREDBROKER_URL: dev.url, CREDBROKER_TOKEN: operatorToken });
    expect(JSON.parse((await cli(["whoami", "--json"], as(token))).stdout)).toMatchObject({ name: "cli-sec", expires_at });

    const rotated = await cli(["operator", "rotate", "cli-sec", "--json"]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const next = JSON.parse(rotated.stdout) as { token: string; expires_at: string };
    expect(next.token).not.toBe(token);
    expect(next.expires_at).toBe(expires_at);
    const old = await cli(["whoami", "--json"], as(token));
    expect(old.code).toBe(1);
    expect(errorOf(old.stderr).code).toBe("unauthorized");
    expect((await cli(["whoami"], as(next.token))).stdout).toContain("cli-sec (role security)");

    const listed = JSON.parse((await cli(["operator", "list", "--json"])).stdout) as Array<{ name: string; expires_at: string | null }>;
    expect(listed.find((o) => o.name === "cli-sec")?.expires_at).toBe(expires_at);
    const badTtl = await cli(["operator", "add", "cli-bad", "--role", "auditor", "--ttl", "forever", "--json"]);
    expect([badTtl.code, errorOf(badTtl.stderr).code]).toEqual([1, "invalid_request"]);
  });

  it("server show prints one server; an unknown one fails with not_found", async () => {
    expect((await cli(["server", "add", "cli-mcp", "--description", "for the CLI test", "--label", "team=cli", "--json"])).code).toBe(0);
    const shown = await cli(["server", "show", "cli-mcp", "--json"]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: "cli-mcp", description: "for the CLI test", labels: { team: "cli" }, disabled: false });
    expect((await cli(["server", "show", "cli-mcp"])).stdout).toMatch(/labels +team=cli/);
    const missing = await cli(["server", "show", "ghost-mcp", "--json"]);
    expect([missing.code, errorOf(missing.stderr).code]).toEqual([1, "not_found"]);
  });

  it("secret rollback and destroy print versions, never a value; destroyed versions read as not found", async () => {
    for (const value of ["first-value-1", "second-value-2"]) expect((await cli(["secret", "put", "cli/rolled", "--value-stdin"], dev.env, value)).code).toBe(0);
    const rolled = await cli(["secret", "rollback", "cli/rolled", "--to", "1", "--json"]);
    expect(JSON.parse(rolled.stdout)).toEqual({ path: "cli/rolled", version: 3, from: 1 });
    expect((await cli(["secret", "get", "cli/rolled"])).stdout).toBe("first-value-1\n");
    const destroyed = await cli(["secret", "destroy", "cli/rolled", "--version", "2"]);
    expect(destroyed.stdout.trim()).toBe("cli/rolled: version 2 destroyed");
    for (const output of [rolled.stdout, destroyed.stdout]) expect(output).not.toMatch(/value-/);
    const gone = await cli(["secret", "get", "cli/rolled", "--version", "2", "--json"]);
    expect([gone.code, errorOf(gone.stderr).code, errorOf(gone.stderr).message]).toEqual([1, "not_found", "version 2 of cli/rolled was destroyed (not_found)"]);
    const versions = JSON.parse((await cli(["secret", "versions", "cli/rolled", "--json"])).stdout) as Array<{ version: number; destroyed: boolean }>;
    expect(versions.map((v) => v.destroyed)).toEqual([false, true, false]);
    expect((await cli(["secret", "destroy", "cli/rolled", "--version", "two"])).code).toBe(2);
    expect((await cli(["secret", "rollback", "cli/rolled"])).code).toBe(2);
  });

  it("server delete revokes everything the server held and hides it", async () => {
    expect((await cli(["server", "add", "cli-doomed-mcp", "--json"])).code).toBe(0);
    const deleted = await cli(["server", "delete", "cli-doomed-mcp", "--json"]);
    expect(JSON.parse(deleted.stdout)).toEqual({ id: "cli-doomed-mcp", deleted: true, leases_revoked: 0, credentials_revoked: 1 });
    expect((await cli(["server", "show", "cli-doomed-mcp"])).code).toBe(1);
    expect((await cli(["server", "delete", "cli-doomed-mcp"])).code).toBe(1);
  });

  it("lease renew extends a server's lease; list --limit shows at most that many, --json one array", async () => {
    expect((await cli(["secret", "put", "cli/key", "--generate", "16"])).code).toBe(0);
    const { client_secret } = JSON.parse((await cli(["server", "rotate-credentials", "cli-mcp", "--json"])).stdout) as { client_secret: string };
    const tokenAnswer = await fetch(`${dev.url}/v1/auth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ grant_type: "client_credentials", client_id: "cli-mcp", client_secret }) });
    const { access_token } = (await tokenAnswer.json()) as { access_token: string };
    for (let i = 0; i < 3; i += 1) expect((await fetch(`${dev.url}/v1/secrets/cli/key`, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);

    const all = JSON.parse((await cli(["lease", "list", "--server", "cli-mcp", "--json"])).stdout) as Array<{ lease_id: string; expires_at: string }>;
    expect(all).toHaveLength(3);
    const two = JSON.parse((await cli(["lease", "list", "--server", "cli-mcp", "--limit", "2", "--json"])).stdout) as Array<{ lease_id: string }>;
    // The lease ids, not whole leases: `ttl` counts down between the two calls.
    expect(two.map((l) => l.lease_id)).toEqual(all.slice(0, 2).map((l) => l.lease_id));
    const table = (await cli(["lease", "list", "--server", "cli-mcp", "--limit", "1"])).stdout.trim().split("\n");
    expect(table).toHaveLength(2);
    expect(table[0]).toMatch(/^LEASE +SERVER +SECRET/);
    expect((await cli(["lease", "list", "--limit", "0"])).code).toBe(2);

    const renewed = await cli(["lease", "renew", all[0]!.lease_id, "--increment", "600", "--json"]);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(JSON.parse(renewed.stdout)).toMatchObject({ lease_id: all[0]!.lease_id, server: "cli-mcp", state: "active" });
    expect((await cli(["lease", "renew", "nope"])).code).toBe(1);
    expect((await cli(["lease", "renew", all[0]!.lease_id, "--increment", "soon"])).code).toBe(2);
  });
});

describe("list commands follow next_cursor pages", () => {
  let api: Server;
  let url: string;
  const requests: URL[] = [];
  const SERVERS = Array.from({ length: 7 }, (_, i) => ({ id: `paged-${i}`, description: `server ${i}`, disabled: false, created_at: "2026-01-01T00:00:00.000Z" }));
  /** Pages of 3 by default; `loop` answers the same cursor forever. */
  let mode: "pages" | "loop" = "pages";

  beforeAll(async () => {
    api = createServer((request, response) => {
      const requestUrl = new URL(request.url ?? "/", "http://x");
      requests.push(requestUrl);
      if (request.headers.authorization !== "Bearer cbo_pages") {
        response.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "unauthorized", message: "no" } }));
        return;
      }
      const start = Number(requestUrl.searchParams.get("cursor") ?? "0");
      const limit = Number(requestUrl.searchParams.get("limit") ?? "3");
      const page = SERVERS.slice(start, start + Math.min(limit, 3));
      const next = mode === "loop" ? "same" : start + page.length < SERVERS.length ? String(start + page.length) : null;
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ servers: page, next_cursor: next }));
    });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => api.close(() => resolve())));

  const env = () => ({ CREDBROKER_URL: url, CREDBROKER_TOKEN: "cbo_pages" });

  it("reads every page: --json is one array of all rows, the table has one header", async () => {
    requests.length = 0;
    const json = await runCli(["server", "list", "--json"], { env: env() });
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as Array<{ id: string }>).map((s) => s.id)).toEqual(SERVERS.map((s) => s.id));
    expect(requests.map((r) => r.searchParams.get("cursor"))).toEqual([null, "3", "6"]);
    const table = (await runCli(["server", "list"], { env: env() })).stdout.trim().split("\n");
    expect(table).toHaveLength(8);
    expect(table.filter((line) => line.startsWith("ID"))).toHaveLength(1);
  });

  it("--limit N stops after N rows and asks for no more than it shows", async () => {
    requests.length = 0;
    const json = await runCli(["server", "list", "--limit", "4", "--json"], { env: env() });
    expect((JSON.parse(json.stdout) as Array<{ id: string }>).map((s) => s.id)).toEqual(SERVERS.slice(0, 4).map((s) => s.id));
    expect(requests.map((r) => [r.searchParams.get("limit"), r.searchParams.get("cursor")])).toEqual([
      ["4", null],
      ["1", "3"],
    ]);
  });

  it("a broker that repeats a cursor is stopped with an error, not followed forever", async () => {
    mode = "loop";
    try {
      const result = await runCli(["server", "list", "--json"], { env: env() });
      expect(result.code).toBe(1);
      expect(errorOf(result.stderr).message).toContain("repeated the page cursor");
    } finally {
      mode = "pages";
    }
  });
});
