/**
 * End to end, SDK path: the example MCP server (examples/ticket-lookup/server.ts) gets its API
 * key from a real broker through withBrokerSecrets(), and a real MCP client calls its tool.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/wait.js";
import { connectMcp, fingerprint, NODE_TS, runProcess, TICKET_SERVER, type McpSession } from "./mcp.js";

const POLICY = `
servers:
  ticket-mcp:
    allow:
      - secrets: ["tickets/api-key"]
        actions: [read]
        max_ttl: 1h
  stranger-mcp:
    allow:
      - secrets: ["stranger/*"]
        actions: [read]
`;

describe("an MCP server built on the SDK helper", () => {
  let b: TestBroker;
  let ticketSecret: string;
  let strangerSecret: string;
  let key: string;
  let session: McpSession;

  const env = (id: string, secret: string) => ({ CREDBROKER_URL: b.url, CREDBROKER_CLIENT_ID: id, CREDBROKER_CLIENT_SECRET: secret });

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY });
    ticketSecret = await b.registerServer("ticket-mcp");
    strangerSecret = await b.registerServer("stranger-mcp");
    key = testSecret("tickets-key");
    await b.putSecret("tickets/api-key", key);
    session = await connectMcp(NODE_TS[0], [...NODE_TS.slice(1), TICKET_SERVER], env("ticket-mcp", ticketSecret));
  });
  afterAll(async () => {
    await session?.close();
    await b.close();
  });

  it("answers a tool call with the brokered key", async () => {
    const ticket = await session.lookup("T-1");
    expect(ticket).toMatchObject({ ticket_id: "T-1", key_sha256_prefix: fingerprint(key), key_length: key.length });
  });

  it("never shows the key to the client or on stderr", async () => {
    const tools = await session.client.listTools();
    expect(tools.tools.map((tool) => tool.name)).toEqual(["lookup_ticket"]);
    expect(JSON.stringify(await session.client.callTool({ name: "lookup_ticket", arguments: { ticket_id: "T-2" } }))).not.toContain(key);
    expect(session.stderr()).not.toContain(key);
  });

  it("uses a new version on the next call, without a restart", async () => {
    const before = await session.lookup("T-3");
    const rotated = testSecret("tickets-key-v2");
    await b.putSecret("tickets/api-key", rotated);
    const after = await waitFor("the rotated key", async () => {
      const ticket = await session.lookup("T-4");
      return ticket.key_sha256_prefix === fingerprint(rotated) && ticket;
    });
    expect(after.server_pid).toBe(before.server_pid);
    key = rotated;
  });

  it("fails at startup, naming the secret, when the server has no grant", async () => {
    const result = await runProcess(NODE_TS[0], [...NODE_TS.slice(1), TICKET_SERVER], env("stranger-mcp", strangerSecret));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("TICKETS_API_KEY (tickets/api-key)");
    expect(result.stderr).toMatch(/access denied/);
    expect(result.stdout.length).toBe(0);
  });

  it("stops serving the key once its lease is revoked and the grant is gone", async () => {
    const revocable = await connectMcp(NODE_TS[0], [...NODE_TS.slice(1), TICKET_SERVER], env("ticket-mcp", ticketSecret));
    try {
      expect((await revocable.lookup("T-5")).key_sha256_prefix).toBe(fingerprint(key));
      b.writePolicy("test.yaml", POLICY.replace(`["tickets/api-key"]`, `["tickets/other"]`));
      await b.admin("POST", "/v1/admin/leases/revoke", { server: "ticket-mcp" });
      const refusal = await waitFor("the tool to refuse", () =>
        revocable.lookup("T-6").then(
          () => undefined,
          (error: Error) => error.message,
        ),
      );
      expect(refusal).toContain("TICKETS_API_KEY");
      expect(refusal).not.toContain(key);
    } finally {
      b.writePolicy("test.yaml", POLICY);
      await revocable.close();
    }
  });
});
