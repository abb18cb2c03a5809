/**
 * Every list route answers one bounded page and a cursor to the next. The attack: enough rows
 * (leases piling up from reads, servers, operators, secrets) that one unbounded answer costs the
 * broker its memory and stalls other requests. Each route must answer at most `limit` rows
 * (default 100, at most 1000), continue exactly where the previous page ended (every row once, in
 * order), say `next_cursor: null` on the last page, and refuse a bad limit or a tampered or
 * foreign cursor with a 400 `invalid_request`, never a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { hashOperatorToken } from "../../src/auth/operator-tokens.js";
import type { Lease } from "../../src/domain.js";

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function lease(id: string, serverId: string, issuedAt: number, overrides: Partial<Lease> = {}): Lease {
  return {
    id,
    serverId,
    secretPath: "github/token",
    version: 1,
    issuedAt,
    expiresAt: issuedAt + HOUR,
    maxExpiresAt: issuedAt + 24 * HOUR,
    renewable: true,
    revokedAt: null,
    revokeReason: null,
    externalLeaseId: null,
    ...overrides,
  };
}

interface Listing {
  next_cursor: string | null;
  [rows: string]: unknown;
}

describe("list routes answer bounded pages with a cursor", () => {
  let b: TestBroker;
  let serverToken: string;
  let now = T0 + 30 * 60_000;

  beforeAll(async () => {
    b = await startTestBroker({
      clock: () => now,
      policy: `servers:\n  github-mcp:\n    allow:\n      - secrets: ["github/token"]\n        actions: [read]\n`,
    });
    const secret = await b.registerServer("github-mcp");
    serverToken = await b.serverToken("github-mcp", secret);
    const store = b.broker.store;
    // 250 leases of github-mcp (every fifth issued at the same instant as the one before, so ties
    // are ordered by id across page boundaries), 40 of another server, half of them all ended.
    for (let i = 0; i < 250; i++) {
      const issuedAt = T0 + Math.floor(i / 5) * 1000;
      await store.insertLease(lease(`lease-${String(i).padStart(4, "0")}`, "github-mcp", issuedAt, i % 2 === 0 ? {} : { expiresAt: T0 + 1000 }));
    }
    for (let i = 0; i < 40; i++) await store.insertLease(lease(`other-${i}`, "other-mcp", T0 + i));
    for (let i = 0; i < 130; i++) await store.createServer({ id: `srv-${String(i).padStart(3, "0")}`, description: "", labels: {}, createdAt: T0, disabledAt: null, tokensNotBefore: null });
    for (let i = 0; i < 120; i++) {
      await store.createOperator({ name: `op-${String(i).padStart(3, "0")}`, role: "auditor", createdAt: T0, revokedAt: null, expiresAt: null, tokenHash: hashOperatorToken(`cbo_test_${i}`) });
    }
    for (let i = 0; i < 110; i++) await b.putSecret(`app/s${String(i).padStart(3, "0")}`, "v");
    now = T0 + 30 * 60_000;
  }, 120_000);
  afterAll(() => b?.close());

  /** Follows next_cursor from the first page; every page's rows under `field`. */
  async function allPages(path: string, field: string, token = b.adminToken): Promise<{ pages: unknown[][]; last: Listing }> {
    const pages: unknown[][] = [];
    let cursor: string | null = null;
    let last: Listing;
    do {
      const separator = path.includes("?") ? "&" : "?";
      const { status, body }: { status: number; body: Listing } = await b.call<Listing>("GET", `${path}${cursor === null ? "" : `${separator}cursor=${encodeURIComponent(cursor)}`}`, { token });
      expect(status, JSON.stringify(body)).toBe(200);
      pages.push(body[field] as unknown[]);
      last = body;
      cursor = body.next_cursor;
      expect(pages.length).toBeLessThan(100);
    } while (cursor !== null);
    return { pages, last };
  }

  it("GET /v1/admin/leases?all=true: 100 a page by default, every lease once, in issue order", async () => {
    const { pages } = await allPages("/v1/admin/leases?all=true", "leases");
    expect(pages.map((page) => page.length)).toEqual([100, 100, 90]);
    const ids = pages.flat().map((row) => (row as { lease_id: string }).lease_id);
    const expected = [...Array.from({ length: 40 }, (_, i) => `other-${i}`), ...Array.from({ length: 250 }, (_, i) => `lease-${String(i).padStart(4, "0")}`)].sort();
    expect([...ids].sort()).toEqual(expected);
    expect(new Set(ids).size).toBe(290);
    const rows = pages.flat() as Array<{ lease_id: string; issued_at: string }>;
    const sorted = [...rows].sort((x, y) => (x.issued_at < y.issued_at ? -1 : x.issued_at > y.issued_at ? 1 : x.lease_id < y.lease_id ? -1 : 1));
    expect(rows.map((row) => row.lease_id)).toEqual(sorted.map((row) => row.lease_id));
  });

  it("GET /v1/admin/leases pages active leases only, with the server filter", async () => {
    const { pages } = await allPages("/v1/admin/leases?server=github-mcp&limit=40", "leases");
    expect(pages.map((page) => page.length)).toEqual([40, 40, 40, 5]);
    expect(pages.flat().every((row) => (row as { state: string }).state === "active")).toBe(true);
  });

  it("GET /v1/leases: the caller's own leases only, a page of `limit` at a time", async () => {
    const { pages, last } = await allPages("/v1/leases?all=true&limit=60", "leases", serverToken);
    expect(pages.map((page) => page.length)).toEqual([60, 60, 60, 60, 10]);
    expect(pages.flat().every((row) => (row as { server: string }).server === "github-mcp")).toBe(true);
    expect(last.next_cursor).toBeNull();
  });

  it("GET /v1/admin/servers, /v1/admin/operators, /v1/admin/secrets: bounded pages that join up", async () => {
    const servers = await allPages("/v1/admin/servers?limit=50", "servers");
    expect(servers.pages.map((page) => page.length)).toEqual([50, 50, 31]);
    const serverIds = servers.pages.flat().map((row) => (row as { id: string }).id);
    expect(serverIds).toEqual([...serverIds].sort());
    expect(new Set(serverIds).size).toBe(131);

    const operators = await allPages("/v1/admin/operators", "operators");
    expect(operators.pages.map((page) => page.length)).toEqual([100, 21]);

    const secrets = await allPages("/v1/admin/secrets?prefix=app/&limit=1000", "secrets");
    expect(secrets.pages.map((page) => page.length)).toEqual([110]);
    const paged = await allPages("/v1/admin/secrets?prefix=app/&limit=7", "secrets");
    expect(paged.pages.flat()).toEqual(secrets.pages.flat());
  });

  it("a limit of exactly the rows left ends with next_cursor null, not an empty page", async () => {
    const { pages } = await allPages("/v1/admin/secrets?prefix=app/&limit=55", "secrets");
    expect(pages.map((page) => page.length)).toEqual([55, 55]);
  });

  it("GET /v1/audit/events says next_cursor null on its last page too, and its cursor continues where the page ended", async () => {
    const all = await b.admin<{ events: Array<{ seq: number }>; next_cursor: string | null }>("GET", "/v1/audit/events?limit=1000");
    const count = all.body.events.length;
    expect(count).toBeGreaterThan(100);
    expect(all.body.next_cursor).toBeNull();
    expect((await b.admin<Listing>("GET", `/v1/audit/events?limit=${count}`)).body.next_cursor).toBeNull();
    const { pages } = await allPages("/v1/audit/events?limit=50", "events");
    expect(pages.flat()).toEqual(all.body.events);
  });

  const encoded = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
  it.each([
    ["limit over 1000", "limit", "/v1/admin/leases?limit=1001"],
    ["limit 0", "limit", "/v1/admin/leases?limit=0"],
    ["limit not a number", "limit", "/v1/admin/servers?limit=ten"],
    ["negative limit", "limit", "/v1/admin/operators?limit=-1"],
    ["cursor not base64url JSON", "cursor", "/v1/admin/secrets?cursor=not-a-cursor"],
    ["cursor with characters outside base64url", "cursor", "/v1/admin/leases?cursor=%7B%22a%22%3A1%7D"],
    ["lease cursor with a text issue time", "cursor", `/v1/admin/leases?cursor=${encoded(["leases", "x", "y"])}`],
    ["lease cursor with a negative issue time", "cursor", `/v1/admin/leases?cursor=${encoded(["leases", -5, "x"])}`],
    ["server cursor holding an object", "cursor", `/v1/admin/servers?cursor=${encoded(["servers", { $gt: "" }])}`],
    ["truncated cursor", "cursor", `/v1/admin/servers?cursor=${encoded('["servers"')}`],
    ["cursor of 3000 characters", "cursor", `/v1/admin/servers?cursor=${"A".repeat(3000)}`],
  ])("%s: a 400 invalid_request naming the %s", async (_label, parameter, path) => {
    const { status, body } = await b.admin<{ error: { code: string; message: string } }>("GET", path);
    expect(status).toBe(400);
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.message).toContain(parameter);
  });

  it("a cursor of one listing is refused by another (foreign cursor)", async () => {
    const servers = await b.admin<Listing>("GET", "/v1/admin/servers?limit=1");
    const cursor = servers.body.next_cursor!;
    expect(cursor).toEqual(expect.any(String));
    for (const path of ["/v1/admin/operators", "/v1/admin/secrets", "/v1/admin/leases"]) {
      const { status, body } = await b.admin<{ error: { code: string } }>("GET", `${path}?cursor=${cursor}`);
      expect(status, path).toBe(400);
      expect(body.error.code).toBe("invalid_request");
    }
    const own = await b.call<{ error: { code: string } }>("GET", `/v1/leases?cursor=${cursor}`, { token: serverToken });
    expect(own.status).toBe(400);
  });

  it("a server's forged cursor cannot reach another server's leases", async () => {
    const forged = Buffer.from(JSON.stringify(["leases", 0, ""])).toString("base64url");
    const { status, body } = await b.call<{ error: { code: string } } & Listing>("GET", `/v1/leases?all=true&limit=1000&cursor=${forged}`, { token: serverToken });
    // An empty id is not a key any listing hands out.
    expect(status).toBe(400);
    expect(body.error.code).toBe("invalid_request");
    const start = Buffer.from(JSON.stringify(["leases", 0, "a"])).toString("base64url");
    const page = await b.call<{ leases: Array<{ server: string }> }>("GET", `/v1/leases?all=true&limit=1000&cursor=${start}`, { token: serverToken });
    expect(page.status).toBe(200);
    expect(page.body.leases).toHaveLength(250);
    expect(page.body.leases.every((row) => row.server === "github-mcp")).toBe(true);
  });
});
