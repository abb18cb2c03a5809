/**
 * GET /v1/events: a Server-Sent Events stream of the events that concern the calling server —
 * new versions and deletions of secrets its policy lets it read, revocations of its own leases,
 * its own disabling. The stream carries a heartbeat so proxies and clients notice a dead
 * connection, and it ends when its token stops being valid: the same check every request takes
 * (`tokenStanding`) runs again before each delivered event, at each heartbeat, on the events that
 * change the server's standing, and on a timer at the token's `exp`. The client reconnects with a
 * fresh token. A server holds at most `events.max_streams_per_server` open streams on a broker;
 * one more is a 429 `too_many_streams`.
 */
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import type { TokenService } from "../../auth/tokens.js";
import { BrokerError } from "../../errors.js";
import type { BrokerEvent, EventBus } from "../../events/bus.js";
import type { StreamSlots } from "../../events/stream-slots.js";
import { evaluate } from "../../policy/evaluate.js";
import type { PolicySet } from "../../policy/types.js";
import { tokenStanding, type ServerDirectory, type TokenRefusal } from "../../servers/directory.js";
import { bearerToken } from "../bearer.js";
import { brokerApp, errors, route, serverSecurity } from "../openapi.js";
import type { createAuthenticators } from "../middleware/authenticate.js";
import { serverActor } from "../request.js";

export interface EventRouteDeps {
  events: EventBus;
  policy: { current(): PolicySet };
  tokens: Pick<TokenService, "verify">;
  serverDirectory: ServerDirectory;
  eventStreams: StreamSlots;
  clock: () => number;
  /** Milliseconds between heartbeats (default 15 000). */
  heartbeatMs?: number;
}

/**
 * Seconds a refused stream is told to wait: a slot frees only when another stream of the server
 * ends, which the broker cannot predict; long enough that a retry loop does not spin.
 */
const STREAM_RETRY_AFTER_SECONDS = 10;

/** Whether an event is one this server should hear about. */
export function concerns(event: BrokerEvent, serverId: string, policy: PolicySet): boolean {
  switch (event.type) {
    case "lease.revoked":
    case "server.disabled":
    case "server.key_added":
      return event.server === serverId;
    case "secret.version":
    case "secret.deleted":
      return evaluate(policy, { serverId, secretPath: event.secret, action: "read" }).allowed;
    case "server.credentials_rotated":
    case "signing_keys.changed":
      return false;
  }
}

/** Whether an event may have ended the standing of this server's tokens: the stream re-checks at once. */
function changesStanding(event: BrokerEvent, serverId: string): boolean {
  return (event.type === "server.disabled" || event.type === "server.credentials_rotated") && event.server === serverId;
}

/** The last event of a stream whose token is no longer valid: it tells the client why. */
function writeEnding(stream: SSEStreamingApi, serverId: string, reason: TokenRefusal): Promise<void> {
  switch (reason) {
    case "server_disabled":
      return stream.writeSSE({ event: "server.disabled", data: JSON.stringify({ server: serverId }) });
    case "token_expired":
      return stream.writeSSE({ event: "token.expired", data: "{}" });
    case "token_revoked":
    case "unknown_server":
      return stream.writeSSE({ event: "token.revoked", data: "{}" });
  }
}

export function eventRoutes(deps: EventRouteDeps, auth: ReturnType<typeof createAuthenticators>) {
  const app = brokerApp();
  route(
    app,
    {
      method: "get",
      path: "/v1/events",
      summary:
        "Server-Sent Events about the caller: secret.version, secret.deleted, lease.revoked; ready first; the stream ends with token.expired, token.revoked or server.disabled when its token stops being valid",
      tags: ["events"],
      security: serverSecurity,
      responses: {
        200: { description: "an event stream, with a heartbeat comment every 15 s", content: { "text/event-stream": { schema: { type: "string" } } } },
        ...errors(401),
        429: { ...errors(429)[429]!, description: "the server already holds events.max_streams_per_server open streams on this broker (too_many_streams); see Retry-After" },
      },
    },
    auth.requireServer,
    async (c) => {
    const serverId = serverActor(c).id;
    // The principal carries no `iat`, which revocation compares against: the claims come from
    // the verification cache requireServer has just filled.
    const claims = await deps.tokens.verify(bearerToken(c.req.header("authorization")));
    const release = deps.eventStreams.acquire(serverId);
    if (!release) {
      throw new BrokerError("too_many_streams", `server ${serverId} already holds ${deps.eventStreams.maxPerServer} open event streams on this broker; close one first`, {
        retryAfterSeconds: STREAM_RETRY_AFTER_SECONDS,
      });
    }
    c.header("cache-control", "no-store");
    c.header("x-accel-buffering", "no");
    return streamSSE(c, async (stream) => {
      let closed = false;
      let disabled = false;
      let wake: () => void = () => {};
      const queue: Array<BrokerEvent & { id: number; time: string }> = [];
      const unsubscribe = deps.events.subscribe((event) => {
        if (changesStanding(event, serverId)) {
          // Published after the store write, so it is authoritative even before the directory
          // answers; a rotation is re-checked against the directory (a newer token survives it).
          if (event.type === "server.disabled") disabled = true;
          wake();
        } else if (concerns(event, serverId, deps.policy.current())) {
          queue.push(event);
          wake();
        }
      });
      stream.onAbort(() => {
        // A dropped connection frees its slot at once, even while a write to it is pending.
        release();
        closed = true;
        wake();
      });
      const heartbeatMs = deps.heartbeatMs ?? 15_000;
      let heartbeatDue = false;
      try {
        await stream.writeSSE({ event: "ready", data: JSON.stringify({ server: serverId, token_expires_at: new Date(claims.expiresAt).toISOString() }) });
        while (!closed) {
          // Every pass (an event to deliver, a heartbeat, a standing change, the exp timer) first
          // asks whether the token is still valid: a missed relay event is caught here too.
          let refusal: TokenRefusal | undefined = disabled ? "server_disabled" : undefined;
          if (refusal === undefined) {
            try {
              const standing = await tokenStanding(deps.serverDirectory, claims, deps.clock);
              if (!standing.valid) refusal = standing.reason;
            } catch {
              // Fail closed: without an answer the stream ends; the reconnect is checked afresh.
              break;
            }
          }
          if (closed) break;
          if (refusal !== undefined) {
            await writeEnding(stream, serverId, refusal);
            break;
          }
          const event = queue.shift();
          if (event) {
            const { id, ...data } = event;
            await stream.writeSSE({ id: String(id), event: event.type, data: JSON.stringify(data) });
            continue;
          }
          if (heartbeatDue) await stream.write(": heartbeat\n\n");
          const wait = Math.max(1, Math.min(heartbeatMs, claims.expiresAt - deps.clock()));
          heartbeatDue = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(true), wait);
            wake = () => {
              clearTimeout(timer);
              resolve(false);
            };
          });
          wake = () => {};
        }
      } finally {
        unsubscribe();
        release();
      }
    });
    },
  );
  return app;
}
