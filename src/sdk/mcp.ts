/**
 * The helper for MCP servers built on `@modelcontextprotocol/sdk`: load the secrets before the
 * transport connects, hand the live set to tool handlers, give the leases back when the server
 * closes or the process runs out of work.
 *
 * ```ts
 * const server = new McpServer({ name: "tickets", version: "1.0.0" });
 * const secrets = await withBrokerSecrets(server, { TICKETS_API_KEY: "tickets/api-key" });
 * server.registerTool("lookup_ticket", {...}, async () => { const key = secrets.get("TICKETS_API_KEY"); ... });
 * await server.connect(new StdioServerTransport());
 * ```
 *
 * Typed structurally, so this module loads nothing from the MCP SDK (works with `McpServer` and
 * with the low-level `Server`).
 */
import { BrokerClient, type BrokerClientOptions, type LoadOptions } from "./client.js";
import type { SecretSet } from "./secret-set.js";

/** What the helper needs of an MCP server: `McpServer` and the low-level `Server` both fit. */
export interface McpServerLike {
  /** McpServer: whether connect() was called already. */
  isConnected?: () => boolean;
  /** McpServer: the low-level server, whose `onclose` fires when the transport closes. */
  server?: { onclose?: (() => void) | undefined };
  /** Low-level Server: fires when the transport closes. */
  onclose?: (() => void) | undefined;
}

export interface WithBrokerSecretsOptions extends LoadOptions {
  /** A client to use (it stays open when the server closes); default: BrokerClient.fromEnv(env), closed with the server. */
  client?: BrokerClient;
  /** The environment to configure the default client from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Extra options of the default client. */
  clientOptions?: Partial<BrokerClientOptions>;
}

/**
 * Loads `mapping` (environment name → secret name) from the broker for `server`, before it
 * connects its transport. Resolves with the live set (`get(name)` in tool handlers always gives
 * the current value); when the server closes, or the process has nothing left to do, the
 * leases are revoked.
 * @throws TypeError when the server is connected already; SecretAccessError naming each denied
 *   or missing secret; BrokerClientError for configuration, authentication or network failures.
 */
export async function withBrokerSecrets<const M extends Record<string, string>>(
  server: McpServerLike,
  mapping: M,
  options: WithBrokerSecretsOptions = {},
): Promise<SecretSet<Extract<keyof M, string>>> {
  if (server.isConnected?.()) throw new TypeError("withBrokerSecrets() must finish before server.connect(transport): load the secrets first");
  const owned = options.client === undefined;
  const client = options.client ?? BrokerClient.fromEnv(options.env ?? process.env, options.clientOptions);
  let secrets: SecretSet<Extract<keyof M, string>>;
  try {
    secrets = await client.load(mapping, { ...(options.retry && { retry: options.retry }), ...(options.signal && { signal: options.signal }) });
  } catch (error) {
    if (owned) await client.close();
    throw error;
  }
  const release = () => {
    process.off("beforeExit", release);
    void (owned ? client.close() : secrets.close());
  };
  const target = server.server ?? server;
  const previous = target.onclose;
  target.onclose = () => {
    previous?.();
    release();
  };
  // The client's timers and stream never keep the process alive; give the leases back on the way out.
  process.once("beforeExit", release);
  return secrets;
}
