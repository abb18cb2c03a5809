/**
 * Finding 9 of issue 14: one token opened 2,000 event streams (+85 MB, +2,000 file descriptors).
 * Open streams are capped per server and broker (`events.max_streams_per_server`); one more is a
 * 429 `too_many_streams` with Retry-After, and a stream that ends, however it ends, frees its slot.
 */
import { connect } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../../src/config.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { follow, waitFor, type FollowedStream } from "../helpers/sse.js";

const POLICY = `
servers:
  capped-mcp:
    allow:
      - secrets: ["app/**"]
        actions: [read]
`;
const CAP = 3;

describe("event streams are capped per server", () => {
  let b: TestBroker;
  let token: string;
  let otherToken: string;
  const streams: FollowedStream[] = [];
  const open = (as = token) => {
    const stream = follow(b.url, as);
    streams.push(stream);
    return stream;
  };
  const ready = (stream: FollowedStream) => waitFor(() => (stream.events[0]?.event === "ready" ? true : undefined), "the ready event");
  /** One more stream: its status, code and Retry-After (the body is read only when it is not a stream). */
  const oneMore = async () => {
    const controller = new AbortController();
    const response = await fetch(`${b.url}/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
    if (response.status === 200) {
      controller.abort();
      return { status: 200, code: undefined, retryAfter: null };
    }
    const body = (await response.json()) as { error: { code: string } };
    return { status: response.status, code: body.error.code, retryAfter: response.headers.get("retry-after") };
  };
  const held = () => b.broker.deps.eventStreams.held("capped-mcp");
  const fill = async () => {
    const opened = Array.from({ length: CAP }, () => open());
    await Promise.all(opened.map(ready));
    return opened;
  };

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY, config: { events: { max_streams_per_server: CAP } } });
    token = await b.serverToken("capped-mcp", await b.registerServer("capped-mcp"));
    otherToken = await b.serverToken("other-mcp", await b.registerServer("other-mcp"));
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.stop();
    // Every slot back before the next case starts from an empty broker.
    await waitFor(() => (held() === 0 ? true : undefined), "the slots to free");
  });
  afterAll(() => b.close());

  it("answers 429 too_many_streams with Retry-After beyond the cap, and audits the refusal", async () => {
    await fill();
    const refused = await oneMore();
    expect(refused).toMatchObject({ status: 429, code: "too_many_streams" });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    const records = await b.broker.store.queryAudit({ outcome: "denied", limit: 50 });
    expect(records.some((record) => record.actor === "capped-mcp" && /too_many_streams/.test(record.reason ?? ""))).toBe(true);
  });

  it("counts per server: another server still opens its streams", async () => {
    await fill();
    const other = open(otherToken);
    await ready(other);
    expect(other.status()).toBe(200);
  });

  it("a stream the client closes frees its slot", async () => {
    const [first] = await fill();
    expect((await oneMore()).status).toBe(429);
    first!.stop();
    await waitFor(() => (held() === CAP - 1 ? true : undefined), "a freed slot");
    expect((await oneMore()).status).toBe(200);
  });

  it("a client that drops its connection without a word frees its slot", async () => {
    const opened = Array.from({ length: CAP - 1 }, () => open());
    await Promise.all(opened.map(ready));
    const socket = connect(Number(new URL(b.url).port), "127.0.0.1");
    const firstBytes = new Promise<string>((resolve) => socket.once("data", (chunk: Buffer) => resolve(chunk.toString("utf8"))));
    socket.write(`GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    expect(await firstBytes).toMatch(/^HTTP\/1\.1 200/);
    expect((await oneMore()).status).toBe(429);
    socket.resetAndDestroy();
    await waitFor(() => (held() === CAP - 1 ? true : undefined), "the dropped stream's slot");
    expect((await oneMore()).status).toBe(200);
  });

  it("a stream the broker ends (its token revoked) frees its slot", async () => {
    const opened = await fill();
    expect((await oneMore()).status).toBe(429);
    const fresh = (await b.admin<{ client_secret: string }>("POST", "/v1/admin/servers/capped-mcp/rotate-credentials")).body.client_secret;
    await waitFor(() => (opened.every((stream) => stream.ended()) ? true : undefined), "the revoked streams to end");
    expect(held()).toBe(0);
    token = await b.serverToken("capped-mcp", fresh);
    const again = await fill();
    expect(again.every((stream) => stream.status() === 200)).toBe(true);
  });
});

describe("events.max_streams_per_server", () => {
  it("defaults to 10", () => {
    expect(parseConfig({}).events.max_streams_per_server).toBe(10);
  });

  it("is read from CREDBROKER_EVENTS__MAX_STREAMS_PER_SERVER like every key", () => {
    expect(loadConfig(undefined, { CREDBROKER_EVENTS__MAX_STREAMS_PER_SERVER: "25" }).events.max_streams_per_server).toBe(25);
  });

  it.each([0, -1, 2.5, "ten"])("refuses %j", (value) => {
    expect(() => parseConfig({ events: { max_streams_per_server: value } })).toThrow(/events\.max_streams_per_server/);
  });

  it("refuses an unknown key in the section", () => {
    expect(() => parseConfig({ events: { max_stream: 5 } })).toThrow(/events/);
  });
});
