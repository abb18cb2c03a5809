/**
 * GET /v1/events: a Server-Sent Events stream of the events that concern the calling server —
 * new versions and deletions of secrets its policy lets it read, revocations of its own leases,
 * its own disabling. The stream ends when the server's token expires (the client reconnects with
 * a fresh token), and carries a heartbeat so proxies and clients notice a dead connection.
 */
import { streamSSE } from "hono/streaming";
import type { BrokerEvent, EventBus } from "../../events/bus.js";
import { evaluate } from "../../policy/evaluate.js";
import type { PolicySet } from "../../policy/types.js";
import { brokerApp, errors, route, serverSecurity } from "../openapi.js";
import type { createAuthenticators } from "../middleware/authenticate.js";
import { serverActor } from "../request.js";

export interface EventRouteDeps {
  events: EventBus;
  policy: { current(): PolicySet };
  clock: () => number;
  /** Milliseconds between heartbeats (default 15 000). */
  heartbeatMs?: number;
}

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
    case "signing_keys.changed":
      return false;
  }
}

export function eventRoutes(deps: EventRouteDeps, auth: ReturnType<typeof createAuthenticators>) {
  const app = brokerApp();
  route(
    app,
    {
      method: "get",
      path: "/v1/events",
      summary: "Server-Sent Events about the caller: secret.version, secret.deleted, lease.revoked, server.disabled; ready first, token.expired last",
      tags: ["events"],
      security: serverSecurity,
      responses: { 200: { description: "an event stream, with a heartbeat comment every 15 s", content: { "text/event-stream": { schema: { type: "string" } } } }, ...errors(401) },
    },
    auth.requireServer,
    (c) => {
    const serverId = serverActor(c).id;
    const principal = c.get("principal");
    const expiresAt = principal.kind === "server" ? principal.expiresAt : deps.clock();
    c.header("cache-control", "no-store");
    c.header("x-accel-buffering", "no");
    return streamSSE(c, async (stream) => {
      let closed = false;
      let wake: () => void = () => {};
      const queue: Array<BrokerEvent & { id: number; time: string }> = [];
      const unsubscribe = deps.events.subscribe((event) => {
        if (concerns(event, serverId, deps.policy.current())) {
          queue.push(event);
          wake();
        }
      });
      stream.onAbort(() => {
        closed = true;
        wake();
      });
      await stream.writeSSE({ event: "ready", data: JSON.stringify({ server: serverId, token_expires_at: new Date(expiresAt).toISOString() }) });
      const heartbeatMs = deps.heartbeatMs ?? 15_000;
      try {
        while (!closed) {
          if (deps.clock() >= expiresAt) {
            await stream.writeSSE({ event: "token.expired", data: "{}" });
            break;
          }
          const event = queue.shift();
          if (event) {
            const { id, ...data } = event;
            await stream.writeSSE({ id: String(id), event: event.type, data: JSON.stringify(data) });
            if (event.type === "server.disabled") break;
            continue;
          }
          const wait = Math.max(1, Math.min(heartbeatMs, expiresAt - deps.clock()));
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = () => {};
          if (queue.length === 0 && !closed && deps.clock() < expiresAt) await stream.write(": heartbeat\n\n");
        }
      } finally {
        unsubscribe();
      }
    });
    },
  );
  return app;
}
