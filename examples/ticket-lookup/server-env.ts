/**
 * The same ticket server without the SDK: it reads TICKETS_API_KEY from its environment, as any
 * unmodified MCP server does. `credbroker run` provides it, and restarts the server (keeping the
 * client's session) when the key rotates:
 *
 *   credbroker run --env TICKETS_API_KEY=tickets/api-key -- npx tsx examples/ticket-lookup/server-env.ts
 */
import { createHash } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const apiKey = process.env.TICKETS_API_KEY;
if (!apiKey) {
  process.stderr.write("ticket-lookup: TICKETS_API_KEY is not set\n");
  process.exit(1);
}

const server = new McpServer({ name: "ticket-lookup", version: "1.0.0" });

server.registerTool(
  "lookup_ticket",
  {
    description: "Look up a support ticket by id",
    inputSchema: { ticket_id: z.string().min(1).max(64) },
  },
  async ({ ticket_id }) => {
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

await server.connect(new StdioServerTransport());
