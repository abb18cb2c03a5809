/** The client SDK against a real broker over HTTP: load, typed errors, renewal, re-fetch, events, polling, close. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BrokerClient, BrokerClientError, SecretAccessError, type SecretSet } from "../../src/sdk/client.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { nextChange, waitFor } from "../helpers/wait.js";

const POLICY = `
servers:
  app-mcp:
    allow:
      - secrets: ["app/**", "shared/config"]
        actions: [read]
        max_ttl: 1h
      - secrets: ["short/*"]
        actions: [read]
        max_ttl: 3s
    deny:
      - secrets: ["app/admin/**"]
  other-mcp:
    allow:
      - secrets: ["other/*"]
        actions: [read]
`;

interface LeaseJson {
  lease_id: string;
  state: string;
  secret: string;
}

describe("BrokerClient against a real broker", () => {
  let b: TestBroker;
  let clientSecret: string;
  const clients: BrokerClient[] = [];
  const tokenValue = testSecret("app-token");
  const dbValue = testSecret("db");

  const newClient = (extra: Partial<ConstructorParameters<typeof BrokerClient>[0]> = {}) => {
    const client = new BrokerClient({ url: b.url, clientId: "app-mcp", clientSecret, onUnhandledError: () => {}, ...extra });
    clients.push(client);
    return client;
  };
  const activeLeases = async (server: string) =>
    (await b.admin<{ leases: LeaseJson[] }>("GET", `/v1/admin/leases?server=${server}`)).body.leases.filter((lease) => lease.state === "active");

  beforeAll(async () => {
    // Short leases so renewals happen within a test; generous max ttl except under short/. The
    // renewal tests wait in real time: the SDK's timers and the broker's HTTP answers interleave
    // (the upkeep decisions themselves are specified on a frozen clock in schedule.test.ts).
    b = await startTestBroker({ policy: POLICY, config: { lease: { default_ttl: 3, max_ttl: "1h" } } });
    clientSecret = await b.registerServer("app-mcp");
    await b.registerServer("other-mcp");
    await b.putSecret("app/token", tokenValue);
    await b.putSecret("app/db", dbValue);
    await b.putSecret("shared/config", JSON.stringify({ region: "eu", apiKey: testSecret("shared") }));
    await b.putSecret("app/admin/root", testSecret("root"));
    await b.putSecret("short/lived", testSecret("short"));
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  afterAll(() => b.close());

  it("loads several secrets in one round trip, under the caller's names", async () => {
    const set = await newClient().load({ TOKEN: "app/token", DB_URL: "app/db", SAME_TOKEN: "app/token" });
    expect(set.get("TOKEN")).toBe(tokenValue);
    expect(set.get("SAME_TOKEN")).toBe(tokenValue);
    expect(set.values()).toEqual({ TOKEN: tokenValue, DB_URL: dbValue, SAME_TOKEN: tokenValue });
    expect(set.info("DB_URL")).toMatchObject({ secret: "app/db", version: 1, renewable: true, state: "valid" });
    expect(set.info("DB_URL").leaseId).toMatch(/^lease_/);
    // One lease per distinct secret, not per name.
    expect((await activeLeases("app-mcp")).filter((lease) => lease.secret === "app/token")).toHaveLength(1);
  });

  it("selects a key of a JSON secret with #key", async () => {
    const set = await newClient().load({ REGION: "shared/config#region" });
    expect(set.get("REGION")).toBe("eu");
  });

  it("throws a SecretAccessError naming each denied secret, its name and the reason", async () => {
    const error = await newClient()
      .load({ TOKEN: "app/token", ROOT: "app/admin/root", ELSEWHERE: "other/thing" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretAccessError);
    const access = error as SecretAccessError;
    expect(access.code).toBe("denied");
    expect(access.denied.map((d) => [d.name, d.secret, d.reason])).toEqual([
      ["ROOT", "app/admin/root", "explicit_deny"],
      ["ELSEWHERE", "other/thing", "no_matching_rule"],
    ]);
    expect(access.message).toContain("ROOT (app/admin/root)");
    expect(access.message).toContain("ELSEWHERE (other/thing)");
    expect(access.message).not.toContain(tokenValue);
  });

  it("throws a SecretAccessError naming a missing secret", async () => {
    const error = (await newClient()
      .load({ NOPE: "app/nope" })
      .catch((e: unknown) => e)) as SecretAccessError;
    expect(error).toBeInstanceOf(SecretAccessError);
    expect(error.code).toBe("not_found");
    expect(error.missing).toEqual([{ name: "NOPE", secret: "app/nope" }]);
    expect(error.message).toContain("NOPE (app/nope)");
  });

  it("reports refused credentials as invalid_client, without retrying", async () => {
    const error = (await new BrokerClient({ url: b.url, clientId: "app-mcp", clientSecret: "cbs_wrong" })
      .load({ TOKEN: "app/token" })
      .catch((e: unknown) => e)) as BrokerClientError;
    expect(error).toBeInstanceOf(BrokerClientError);
    expect(error.code).toBe("invalid_client");
  });

  it("renews leases before they expire and keeps serving the value", async () => {
    const set = await newClient().load({ TOKEN: "app/token" });
    const first = set.info("TOKEN");
    const renewed = await waitFor("a renewal", () => set.info("TOKEN").expiresAt > first.expiresAt && set.info("TOKEN"));
    expect(renewed.leaseId).toBe(first.leaseId);
    // Past the first lease's end, the renewed value is still served.
    await waitFor("the first expiry to pass", () => Date.now() > first.expiresAt.getTime() + 500);
    expect(set.get("TOKEN")).toBe(tokenValue);
  });

  it("fetches again when a lease reaches its max ttl, without a change event for the same value", async () => {
    const set = await newClient().load({ SHORT: "short/lived" });
    const first = set.info("SHORT");
    expect(first.renewable).toBe(false);
    let changes = 0;
    set.on("change", () => changes++);
    await waitFor("a new lease", () => set.info("SHORT").leaseId !== first.leaseId);
    expect(set.get("SHORT")).toBeTruthy();
    expect(changes).toBe(0);
    // The superseded lease was given back.
    await waitFor("the old lease to be revoked", async () => !(await activeLeases("app-mcp")).some((lease) => lease.lease_id === first.leaseId));
  });

  it("swaps in a new version announced on the event stream and emits change with the names", async () => {
    await b.putSecret("app/rotating", testSecret("v1"));
    const client = newClient();
    const set = await client.load({ ROTATING: "app/rotating", TOKEN: "app/token" });
    await waitFor("the event stream", () => client.following);
    const next = testSecret("v2");
    const change = nextChange(set);
    await b.putSecret("app/rotating", next);
    const names = await change;
    expect(names).toEqual(["ROTATING"]);
    expect(set.get("ROTATING")).toBe(next);
    expect(set.info("ROTATING").version).toBe(2);
  });

  it("re-fetches a value whose lease an operator revoked", async () => {
    const client = newClient();
    const set = await client.load({ DB_URL: "app/db" });
    await waitFor("the event stream", () => client.following);
    const first = set.info("DB_URL").leaseId;
    await b.admin("DELETE", `/v1/admin/leases/${first}`);
    await waitFor("a fresh lease", () => set.info("DB_URL").state === "valid" && set.info("DB_URL").leaseId !== first);
    expect(set.get("DB_URL")).toBe(dbValue);
  });

  it("stops serving a revoked value that may not be fetched again, and emits error", async () => {
    await b.putSecret("app/revocable", testSecret("revocable"));
    const client = newClient();
    const set = await client.load({ REVOCABLE: "app/revocable" });
    await waitFor("the event stream", () => client.following);
    const errors: BrokerClientError[] = [];
    set.on("error", (error) => errors.push(error));
    b.writePolicy("test.yaml", POLICY.replace(`["app/**", "shared/config"]`, `["app/token", "app/db", "app/rotating", "shared/config"]`));
    try {
      await b.admin("POST", "/v1/admin/leases/revoke", { secret: "app/revocable" });
      await waitFor("the loss to be reported", () => errors.find((error) => error.code === "lease_revoked"));
      expect(() => set.get("REVOCABLE")).toThrow(expect.objectContaining({ code: "lease_revoked" }));
      expect(errors.find((error) => error.code === "lease_revoked")!.names).toEqual(["REVOCABLE"]);
    } finally {
      b.writePolicy("test.yaml", POLICY);
    }
  });

  it("never hands out a value whose lease has expired: get() throws lease_expired", async () => {
    let offset = 0;
    const client = newClient({ clock: () => Date.now() + offset, events: false });
    const set = await client.load({ TOKEN: "app/token" });
    expect(set.get("TOKEN")).toBe(tokenValue);
    offset = 60_000;
    expect(() => set.get("TOKEN")).toThrow(expect.objectContaining({ code: "lease_expired" }));
    expect(() => set.values()).toThrow(BrokerClientError);
    expect(set.info("TOKEN").state).toBe("expired");
  });

  it("polls while no event stream is followed", async () => {
    await b.putSecret("app/polled", testSecret("p1"));
    const set = await newClient({ events: false, pollIntervalMs: 200 }).load({ POLLED: "app/polled" });
    const next = testSecret("p2");
    const change = nextChange(set);
    await b.putSecret("app/polled", next);
    expect(await change).toEqual(["POLLED"]);
    expect(set.get("POLLED")).toBe(next);
  });

  it("fails over to the next broker URL when the first cannot be reached", async () => {
    const dead = await closedPortUrl();
    const set = await newClient({ urls: [dead, b.url], url: undefined } as never).load({ TOKEN: "app/token" });
    expect(set.get("TOKEN")).toBe(tokenValue);
  });

  it("gives up with `unavailable` when no broker answers", async () => {
    const dead = await closedPortUrl();
    const error = (await new BrokerClient({ url: dead, clientId: "app-mcp", clientSecret, retry: { attempts: 2, baseDelayMs: 10 } })
      .load({ TOKEN: "app/token" })
      .catch((e: unknown) => e)) as BrokerClientError;
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain(dead);
  });

  it("close() revokes the client's leases and makes the set unusable", async () => {
    const client = newClient();
    const set: SecretSet<"TOKEN" | "DB_URL"> = await client.load({ TOKEN: "app/token", DB_URL: "app/db" });
    const leases = [set.info("TOKEN").leaseId, set.info("DB_URL").leaseId];
    await client.close();
    const active = (await activeLeases("app-mcp")).map((lease) => lease.lease_id);
    expect(active.filter((id) => leases.includes(id))).toEqual([]);
    expect(() => set.get("TOKEN")).toThrow(expect.objectContaining({ code: "closed" }));
    await expect(client.load({ TOKEN: "app/token" })).rejects.toMatchObject({ code: "closed" });
  });

  it("fromEnv reads the scripting contract and names what is missing", () => {
    expect(() => BrokerClient.fromEnv({})).toThrow(expect.objectContaining({ code: "invalid_configuration", message: expect.stringContaining("CREDBROKER_CLIENT_ID") }));
    expect(() => BrokerClient.fromEnv({ CREDBROKER_CLIENT_ID: "x" })).toThrow(expect.objectContaining({ message: expect.stringContaining("CREDBROKER_CLIENT_SECRET") }));
    expect(() => BrokerClient.fromEnv({ CREDBROKER_CLIENT_ID: "x", CREDBROKER_CLIENT_SECRET: "s", CREDBROKER_PRIVATE_KEY_FILE: "/k" })).toThrow(/only one/);
    expect(() => BrokerClient.fromEnv({ CREDBROKER_CLIENT_ID: "x", CREDBROKER_CLIENT_SECRET: "s", CREDBROKER_URL: "ftp://nope" })).toThrow(/CREDBROKER_URL/);
    expect(BrokerClient.fromEnv({ CREDBROKER_CLIENT_ID: "x", CREDBROKER_CLIENT_SECRET: "s", CREDBROKER_URL: "http://a:1, http://b:2" })).toBeInstanceOf(BrokerClient);
  });

  it("rejects contradictory options with a TypeError", () => {
    expect(() => new BrokerClient({ url: b.url, clientId: "x" })).toThrow(TypeError);
    expect(() => new BrokerClient({ url: b.url, clientId: "x", clientSecret: "s", privateKeyFile: "/k" })).toThrow(TypeError);
    expect(() => new BrokerClient({ clientId: "x", clientSecret: "s" })).toThrow(TypeError);
  });
});

/** A URL on which nothing listens: a port bound then released. */
async function closedPortUrl(): Promise<string> {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
