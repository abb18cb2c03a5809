/**
 * The credbroker client SDK, published as `credbroker/client`: what an MCP server imports.
 * Imports nothing from the broker's own code: only jose and node built-ins.
 */
export * from "./client.js";
export { withBrokerSecrets, type McpServerLike, type WithBrokerSecretsOptions } from "./mcp.js";
