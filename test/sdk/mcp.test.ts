/** withBrokerSecrets() with a real McpServer and a real broker, in process (the stdio e2e runs it as a child). */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrokerClient, SecretAccessError, withBrokerSecrets } from "../../src/sdk/index.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/wait.js";

describe("withBrokerSecrets", () => {
  let b: TestBroker;
  let env: Record<string, string>;
  const value = testSecret("helper");

  beforeAll(async () => {
    b = await startTestBroker({ policy: `servers:\n  helper-mcp:\n    allow:\n      - secrets: ["helper/*"]\n        actions: [read]\n` });
    env = { CREDBROKER_URL: b.url, CREDBROKER_CLIENT_ID: "helper-mcp", CREDBROKER_CLIENT_SECRET: await b.registerServer("helper-mcp") };
    await b.putSecret("helper/key", value);
  });
  afterAll(() => b.close());

  const activeLeases = async () =>
    (await b.admin<{ leases: Array<{ lease_id: string; state: string }> }>("GET", "/v1/admin/leases?server=helper-mcp")).body.leases.filter((lease) => lease.state === "active").map((lease) => lease.lease_id);

  it("loads before connect, serves tool handlers, and revokes its leases when the server closes", async () => {
    const server = new McpServer({ name: "helper-test", version: "1.0.0" });
    const secrets = await withBrokerSecrets(server, { KEY: "helper/key" }, { env });
    server.registerTool("key_length", { description: "length of KEY" }, async () => ({ content: [{ type: "text", text: String(secrets.get("KEY").length) }] }));
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "t", version: "1" });
    await client.connect(clientSide);
    const result = (await client.callTool({ name: "key_length", arguments: {} })) as { content: Array<{ text: string }> };
    expect(result.content[0]!.text).toBe(String(value.length));
    const lease = secrets.info("KEY").leaseId;
    expect(await activeLeases()).toContain(lease);
    await client.close();
    await waitFor("the lease to be revoked", async () => !(await activeLeases()).includes(lease));
  });

  it("refuses to run after connect: the secrets must be there first", async () => {
    const server = new McpServer({ name: "late", version: "1.0.0" });
    const [, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    await expect(withBrokerSecrets(server, { KEY: "helper/key" }, { env })).rejects.toThrow(TypeError);
    await server.close();
  });

  it("throws the naming SecretAccessError for a denied secret", async () => {
    const server = new McpServer({ name: "denied", version: "1.0.0" });
    const error = await withBrokerSecrets(server, { OTHER: "elsewhere/key" }, { env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretAccessError);
    expect((error as SecretAccessError).message).toContain("OTHER (elsewhere/key)");
  });

  it("uses a given client and leaves it open", async () => {
    const client = BrokerClient.fromEnv(env);
    try {
      const server = new McpServer({ name: "shared", version: "1.0.0" });
      const secrets = await withBrokerSecrets(server, { KEY: "helper/key" }, { client });
      expect(secrets.get("KEY")).toBe(value);
      const more = await client.load({ AGAIN: "helper/key" });
      expect(more.get("AGAIN")).toBe(value);
    } finally {
      await client.close();
    }
  });
});
