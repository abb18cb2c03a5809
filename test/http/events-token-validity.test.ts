/**
 * Finding 7 of issue 14: an open GET /v1/events stream must not outlive its token. It ends when
 * the token stops being valid: its server's credentials were rotated (tokens issued before are
 * revoked), the server was disabled, or the token reached its `exp`; and it delivers no event
 * after that. The stream re-checks the token the way every request is checked (one function,
 * `tokenStanding`), on the events that concern its server, before each delivery (so a missed
 * event changes nothing) and on a timer at the token's expiry.
 */
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { follow, waitFor, type FollowedStream } from "../helpers/sse.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";

const SERVERS = ["rotated-mcp", "missed-rotation-mcp", "disabled-mcp", "missed-disable-mcp", "expiring-mcp", "late-mcp", "edge-mcp", "kept-mcp"];
const POLICY = `servers:\n${SERVERS.map((id) => `  ${id}:\n    allow:\n      - secrets: ["app/**"]\n        actions: [read]\n`).join("")}`;

/** Reads the `exp` of a broker token (ms). */
const expiresAtOf = (token: string) => (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as { exp: number }).exp * 1000;

const ready = (stream: FollowedStream) => waitFor(() => (stream.events[0]?.event === "ready" ? true : undefined), "the ready event");
const ended = (stream: FollowedStream) => waitFor(() => (stream.ended() ? stream.events.map((e) => e.event) : undefined), "the broker to end the stream");

describe("an event stream ends when its token stops being valid", () => {
  let b: TestBroker;
  let shiftMs = 0;
  const secrets = new Map<string, string>();
  const streams: FollowedStream[] = [];
  const open = (token: string) => {
    const stream = follow(b.url, token);
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY, clock: () => Date.now() + shiftMs });
    for (const id of SERVERS) secrets.set(id, await b.registerServer(id));
    await b.putSecret("app/key", testSecret("stream"));
  });
  afterEach(() => {
    shiftMs = 0;
    for (const stream of streams.splice(0)) stream.stop();
  });
  afterAll(() => b.close());

  it("after rotate-credentials, the stream opened with the old token ends with token.revoked and delivers nothing more", async () => {
    const token = await b.serverToken("rotated-mcp", secrets.get("rotated-mcp")!);
    const stream = open(token);
    await ready(stream);
    expect((await b.admin("POST", "/v1/admin/servers/rotated-mcp/rotate-credentials")).status).toBe(200);
    expect(await ended(stream)).toEqual(["ready", "token.revoked"]);
    await b.putSecret("app/key", testSecret("after-rotation"));
    expect((await b.call("GET", "/v1/leases", { token })).status).toBe(401);
    expect(stream.events.map((e) => e.event)).toEqual(["ready", "token.revoked"]);
  });

  it("a rotation whose event never arrived (a relay that was down) still stops the next delivery", async () => {
    const token = await b.serverToken("missed-rotation-mcp", secrets.get("missed-rotation-mcp")!);
    const stream = open(token);
    await ready(stream);
    // Straight to the store, as another broker's write whose event was lost: nothing is published.
    await b.broker.store.setTokensNotBefore("missed-rotation-mcp", Date.now() + shiftMs);
    await b.putSecret("app/key", testSecret("missed-rotation"));
    expect(await ended(stream)).toEqual(["ready", "token.revoked"]);
  });

  it("disabling the server ends the stream with server.disabled", async () => {
    const stream = open(await b.serverToken("disabled-mcp", secrets.get("disabled-mcp")!));
    await ready(stream);
    expect((await b.admin("POST", "/v1/admin/servers/disabled-mcp/disable")).status).toBe(200);
    expect(await ended(stream)).toEqual(["ready", "server.disabled"]);
  });

  it("a disable whose event never arrived still stops the next delivery", async () => {
    const stream = open(await b.serverToken("missed-disable-mcp", secrets.get("missed-disable-mcp")!));
    await ready(stream);
    await b.broker.store.setServerDisabled("missed-disable-mcp", Date.now() + shiftMs);
    await b.putSecret("app/key", testSecret("missed-disable"));
    expect(await ended(stream)).toEqual(["ready", "server.disabled"]);
  });

  it("ends with token.expired on a timer at the token's exp, with no event in between", async () => {
    const token = await b.serverToken("expiring-mcp", secrets.get("expiring-mcp")!);
    // The broker's clock jumps to 600 ms before the token's exp: the real wait is short.
    shiftMs = expiresAtOf(token) - Date.now() - 600;
    const stream = open(token);
    await ready(stream);
    const started = Date.now();
    expect(await ended(stream)).toEqual(["ready", "token.expired"]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("delivers no event once the token's exp has passed, even before the timer fires", async () => {
    const token = await b.serverToken("late-mcp", secrets.get("late-mcp")!);
    const stream = open(token);
    await ready(stream);
    shiftMs = expiresAtOf(token) - Date.now();
    await b.putSecret("app/key", testSecret("after-exp"));
    expect(await ended(stream)).toEqual(["ready", "token.expired"]);
  });

  it("refuses a token at its exp on every route alike, even one this broker never verified before (one check decides)", async () => {
    const token = await b.serverToken("edge-mcp", secrets.get("edge-mcp")!);
    shiftMs = expiresAtOf(token) - Date.now() + 1_000;
    expect((await b.call("GET", "/v1/leases", { token })).status).toBe(401);
    const stream = open(token);
    await waitFor(() => stream.status() || undefined, "the answer");
    expect(stream.status()).toBe(401);
  });

  it("keeps delivering to a stream whose token is still valid", async () => {
    const stream = open(await b.serverToken("kept-mcp", secrets.get("kept-mcp")!));
    await ready(stream);
    await b.putSecret("app/key", testSecret("kept"));
    const version = await waitFor(() => stream.events.find((e) => e.event === "secret.version"), "secret.version");
    expect(version.data).toMatchObject({ secret: "app/key" });
    expect(stream.ended()).toBe(false);
  });
});

describePostgres("an event stream on one broker ends when the token is revoked through another", () => {
  let schema: TestSchema;
  let a: TestBroker;
  let b: TestBroker;
  const config = (url: string) => ({ database: url, public_url: "https://credbroker.internal" });

  beforeAll(async () => {
    schema = await createTestSchema("streams");
    a = await startTestBroker({ policy: POLICY, config: config(schema.url) });
    b = await startTestBroker({ policy: POLICY, config: config(schema.url), masterKeyFile: join(a.dir, "master.key"), adminToken: a.adminToken });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await schema?.drop();
  });

  it("rotate-credentials on A ends B's stream (the relayed event)", async () => {
    const token = await b.serverToken("rotated-mcp", await a.registerServer("rotated-mcp"));
    const stream = follow(b.url, token);
    try {
      await ready(stream);
      expect((await a.admin("POST", "/v1/admin/servers/rotated-mcp/rotate-credentials")).status).toBe(200);
      expect(await ended(stream)).toEqual(["ready", "token.revoked"]);
    } finally {
      stream.stop();
    }
  });

  it("a rotation on A whose event B missed stops B's next delivery", async () => {
    const token = await b.serverToken("missed-rotation-mcp", await a.registerServer("missed-rotation-mcp"));
    const stream = follow(b.url, token);
    try {
      await ready(stream);
      await a.broker.store.setTokensNotBefore("missed-rotation-mcp", Date.now());
      await a.putSecret("app/key", testSecret("pg-missed"));
      expect(await ended(stream)).toEqual(["ready", "token.revoked"]);
    } finally {
      stream.stop();
    }
  });
});
