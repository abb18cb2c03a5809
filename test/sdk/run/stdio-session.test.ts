/** The stdio relay's session logic, driven line by line with in-memory ends. */
import { describe, expect, it } from "vitest";
import { RESTART_ERROR_CODE, StdioSession } from "../../../src/sdk/run/stdio-session.js";

const line = (message: unknown) => Buffer.from(`${JSON.stringify(message)}\n`);
const parse = (bytes: Buffer[]) =>
  Buffer.concat(bytes)
    .toString("utf8")
    .split("\n")
    .filter(Boolean)
    .map((text) => JSON.parse(text) as Record<string, unknown>);

class FakeChild {
  written: Buffer[] = [];
  ended = false;
  write(bytes: Buffer) {
    this.written.push(bytes);
  }
  end() {
    this.ended = true;
  }
  messages() {
    return parse(this.written);
  }
}

function setup(options: ConstructorParameters<typeof StdioSession>[1] = {}) {
  const toClient: Buffer[] = [];
  const logs: string[] = [];
  const session = new StdioSession({ toClient: (bytes) => toClient.push(bytes), log: (m) => logs.push(m) }, options);
  return { session, toClient, logs, clientMessages: () => parse(toClient) };
}

const INIT = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "c", version: "1" } } };
const INIT_RESULT = { jsonrpc: "2.0", id: 1, result: { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "s", version: "1" } } };
const INITIALIZED = { jsonrpc: "2.0", method: "notifications/initialized" };

/** A session past initialize on its first child. */
async function initialised(options: ConstructorParameters<typeof StdioSession>[1] = {}) {
  const s = setup(options);
  const first = new FakeChild();
  const generation = await s.session.attach(first);
  s.session.fromClient(line(INIT));
  s.session.fromChild(generation, line(INIT_RESULT));
  s.session.fromClient(line(INITIALIZED));
  return { ...s, first, generation };
}

/** Replaces the child the way `credbroker run` does, answering the replayed initialize. */
async function replace(session: StdioSession, answerInit = true) {
  session.detach("restarted for a test");
  const next = new FakeChild();
  const generation = session.currentGeneration;
  const attached = session.attach(next);
  if (answerInit) {
    await waitUntil(() => next.messages().some((m) => m.method === "initialize"));
    const init = next.messages().find((m) => m.method === "initialize")!;
    session.fromChild(generation, line({ ...INIT_RESULT, id: init.id }));
  }
  await attached;
  return { next, generation };
}

async function waitUntil(condition: () => boolean) {
  for (let i = 0; i < 100 && !condition(); i += 1) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error("condition never held");
}

describe("StdioSession", () => {
  it("passes lines through byte for byte in both directions, splitting nothing and merging nothing", async () => {
    const { session, toClient } = setup();
    const child = new FakeChild();
    const generation = await session.attach(child);
    const request = Buffer.from(`{ "jsonrpc" : "2.0", "id": 7, "method": "tools/list" }\r\n`);
    session.fromClient(request.subarray(0, 10));
    session.fromClient(request.subarray(10));
    expect(Buffer.concat(child.written).equals(request)).toBe(true);
    const answer = Buffer.from(`{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}\n`);
    session.fromChild(generation, answer.subarray(0, 5));
    expect(toClient).toEqual([]);
    session.fromChild(generation, answer.subarray(5));
    expect(Buffer.concat(toClient).equals(answer)).toBe(true);
  });

  it("holds client input until the first child is attached", async () => {
    const { session } = setup();
    session.fromClient(line(INIT));
    const child = new FakeChild();
    await session.attach(child);
    expect(child.messages()).toEqual([INIT]);
  });

  it("detects non-MCP input and relays raw bytes as they come", async () => {
    const { session, toClient } = setup();
    const child = new FakeChild();
    const generation = await session.attach(child);
    session.fromClient(Buffer.from("hello\nworld"));
    expect(session.detectedMode).toBe("raw");
    expect(Buffer.concat(child.written).toString()).toBe("hello\nworld");
    session.fromChild(generation, Buffer.from("no newline"));
    expect(Buffer.concat(toClient).toString()).toBe("no newline");
    session.endFromClient();
    expect(child.ended).toBe(true);
  });

  it("replays initialize and initialized to a new child, with its own id, and swallows the answer", async () => {
    const { session, clientMessages } = await initialised();
    const { next } = await replace(session);
    const replayed = next.messages();
    expect(replayed[0]).toMatchObject({ method: "initialize", params: INIT.params });
    expect(replayed[0]!.id).not.toBe(INIT.id);
    expect(replayed[1]).toEqual(INITIALIZED);
    // The client saw exactly one initialize answer: the first child's.
    expect(clientMessages().filter((m) => "result" in m)).toEqual([INIT_RESULT]);
  });

  it("holds client messages during a restart and delivers them, in order, to the new child", async () => {
    const { session, first } = await initialised();
    session.hold();
    session.fromClient(line({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "a" } }));
    session.fromClient(line({ jsonrpc: "2.0", method: "notifications/roots/list_changed" }));
    session.fromClient(line({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "b" } }));
    expect(first.messages().map((m) => m.id ?? m.method)).toEqual([1, "notifications/initialized"]);
    const { next } = await replace(session);
    expect(next.messages().slice(2).map((m) => m.id ?? m.method)).toEqual([2, "notifications/roots/list_changed", 3]);
  });

  it("lets the old child finish what it has in flight before the restart (drain)", async () => {
    const { session, generation, clientMessages } = await initialised();
    session.fromClient(line({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "slow" } }));
    session.hold();
    let drained = false;
    const drain = session.drained(60_000).then(() => (drained = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(drained).toBe(false);
    session.fromChild(generation, line({ jsonrpc: "2.0", id: 5, result: { content: [] } }));
    await drain;
    expect(clientMessages().at(-1)).toEqual({ jsonrpc: "2.0", id: 5, result: { content: [] } });
  });

  it("answers a call the old child never answered with a JSON-RPC error, and replays reads", async () => {
    const { session, clientMessages } = await initialised();
    session.fromClient(line({ jsonrpc: "2.0", id: "call-1", method: "tools/call", params: { name: "x" } }));
    session.fromClient(line({ jsonrpc: "2.0", id: 9, method: "tools/list" }));
    const { next } = await replace(session);
    const errorAnswer = clientMessages().find((m) => m.id === "call-1")!;
    expect(errorAnswer).toMatchObject({ jsonrpc: "2.0", id: "call-1", error: { code: RESTART_ERROR_CODE } });
    expect((errorAnswer.error as { message: string }).message).toMatch(/tools\/call/);
    // tools/list is a read: the new child answers it instead.
    expect(next.messages().filter((m) => m.id === 9)).toEqual([{ jsonrpc: "2.0", id: 9, method: "tools/list" }]);
    expect(next.messages().some((m) => m.id === "call-1")).toBe(false);
  });

  it("keeps an initialize still in flight with its original id, so the client gets its answer", async () => {
    const { session, clientMessages } = setup();
    await session.attach(new FakeChild());
    session.fromClient(line(INIT));
    const { next, generation } = await replace(session, false);
    expect(next.messages()).toEqual([INIT]);
    session.fromChild(generation, line(INIT_RESULT));
    expect(clientMessages()).toEqual([INIT_RESULT]);
  });

  it("drops output of a replaced child, half-written lines included", async () => {
    const { session, generation, toClient } = await initialised();
    session.fromChild(generation, Buffer.from(`{"jsonrpc":"2.0","method":"notifications/message","par`));
    const before = Buffer.concat(toClient).length;
    await replace(session);
    session.fromChild(generation, Buffer.from(`ams":{}}\n`));
    expect(Buffer.concat(toClient).length).toBe(before);
  });

  it("swallows the client's answer to a request the replaced child had sent", async () => {
    const { session, generation } = await initialised();
    session.fromChild(generation, line({ jsonrpc: "2.0", id: 40, method: "roots/list" }));
    const { next } = await replace(session);
    session.fromClient(line({ jsonrpc: "2.0", id: 40, result: { roots: [] } }));
    expect(next.messages().some((m) => m.id === 40)).toBe(false);
  });

  it("forgets a request the client cancelled, so a drain does not wait for it", async () => {
    const { session } = await initialised();
    session.fromClient(line({ jsonrpc: "2.0", id: 11, method: "tools/call", params: { name: "x" } }));
    expect(session.inFlight).toBe(1);
    session.fromClient(line({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 11 } }));
    expect(session.inFlight).toBe(0);
  });

  it("restores the logging level and resource subscriptions on the new child", async () => {
    const { session, generation } = await initialised();
    session.fromClient(line({ jsonrpc: "2.0", id: 20, method: "logging/setLevel", params: { level: "debug" } }));
    session.fromClient(line({ jsonrpc: "2.0", id: 21, method: "resources/subscribe", params: { uri: "file:///a" } }));
    session.fromClient(line({ jsonrpc: "2.0", id: 22, method: "resources/subscribe", params: { uri: "file:///b" } }));
    session.fromClient(line({ jsonrpc: "2.0", id: 23, method: "resources/unsubscribe", params: { uri: "file:///a" } }));
    for (const id of [20, 21, 22, 23]) session.fromChild(generation, line({ jsonrpc: "2.0", id, result: {} }));
    session.detach("test");
    const next = new FakeChild();
    const nextGeneration = session.currentGeneration;
    const attached = session.attach(next);
    const answer = async (method: string) => {
      await waitUntil(() => next.messages().some((m) => m.method === method));
      for (const m of next.messages().filter((x) => x.method === method)) session.fromChild(nextGeneration, line({ jsonrpc: "2.0", id: m.id, result: {} }));
    };
    await answer("initialize");
    await answer("logging/setLevel");
    await answer("resources/subscribe");
    await attached;
    const restored = next.messages().filter((m) => m.method !== "initialize" && m.method !== "notifications/initialized");
    expect(restored.map((m) => [m.method, m.params])).toEqual([
      ["logging/setLevel", { level: "debug" }],
      ["resources/subscribe", { uri: "file:///b" }],
    ]);
  });

  it("rejects the attach when the new child refuses the replayed initialize", async () => {
    const { session } = await initialised();
    session.detach("test");
    const next = new FakeChild();
    const generation = session.currentGeneration;
    const attached = session.attach(next);
    await waitUntil(() => next.messages().length > 0);
    session.fromChild(generation, line({ jsonrpc: "2.0", id: next.messages()[0]!.id, error: { code: -32602, message: "unsupported protocol version" } }));
    await expect(attached).rejects.toThrow(/refused initialize/);
  });

  it("ends the new child's stdin when the client closed its end during the restart", async () => {
    const { session } = await initialised();
    session.hold();
    session.endFromClient();
    const { next } = await replace(session);
    expect(next.ended).toBe(true);
  });
});
