/**
 * An MCP server whose API key comes from credbroker, through the client SDK: the key is loaded
 * before the transport connects, renewed and swapped in when it rotates, and never written to
 * a config file. Run it with CREDBROKER_URL, CREDBROKER_CLIENT_ID and CREDBROKER_CLIENT_SECRET set:
 *
 *   npx tsx examples/ticket-lookup/server.ts
 *
 * The tool pretends to call a ticket API. To show which key it would use without ever showing
 * the key, it answers with the first 12 hex digits of the key's SHA-256 and its length.
 */
import { createHash } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";
import { withBrokerSecrets } from "credbroker/client";

const server = new McpServer({ name: "ticket-lookup", version: "1.0.0" });

// Loaded before connect(): a denied or missing secret stops the server here, naming it.
const secrets = await withBrokerSecrets(server, { TICKETS_API_KEY: "tickets/api-key" }).catch((error: Error) => {
  process.stderr.write(`ticket-lookup: cannot start: ${error.message}\n`);
  process.exit(1);
});

server.registerTool(
  "lookup_ticket",
  {
    description: "Look up a support ticket by id",
    inputSchema: { ticket_id: z.string().min(1).max(64) },
  },
  async ({ ticket_id }) => {
    // Always the current value; throws (and the client sees a tool error) once it may not be used.
    const apiKey = secrets.get("TICKETS_API_KEY");
    const ticket = {
      ticket_id,
      status: "open",
      key_sha256_prefix: createHash("sha256").update(apiKey).digest("hex").slice(0, 12),
      key_length: apiKey.length,
      server_pid: process.pid,
    };
    return { content: [{ type: "text", text: JSON.stringify(ticket) }] };
  },
);

secrets.on("change", (names) => process.stderr.write(`ticket-lookup: new value for ${names.join(", ")}\n`));

await server.connect(new StdioServerTransport());
