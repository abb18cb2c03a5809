/**
 * In-process publish/subscribe of broker events that running MCP servers must learn about: a new
 * version of a secret, a deletion, a revoked lease, a disabled server, rotated server credentials. GET /v1/events streams the
 * events that concern each server. (Several brokers on PostgreSQL relay these through
 * LISTEN/NOTIFY; the bus is the single point where that plugs in.)
 */
export type BrokerEvent =
  | { type: "secret.version"; secret: string; version: number }
  | { type: "secret.deleted"; secret: string }
  | { type: "lease.revoked"; server: string; lease_id: string; secret: string; reason: string }
  | { type: "server.disabled"; server: string }
  /**
   * Not streamed: the server's credentials were replaced and its earlier tokens revoked, so the
   * event streams opened with them re-check their token and end.
   */
  | { type: "server.credentials_rotated"; server: string }
  /** A public key was registered for the server: whoever holds its private key can read as the server. */
  | { type: "server.key_added"; server: string; kid: string | null; thumbprint: string }
  /** Broker-internal (never streamed to servers): another broker rotated the token signing key. */
  | { type: "signing_keys.changed"; kid: string };

export type EventListener = (event: BrokerEvent & { id: number; time: string }) => void;

export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private nextId = 1;
  private relay: ((event: BrokerEvent) => void) | undefined;

  constructor(private readonly clock: () => number = Date.now) {}

  /** Also sends every event published here to the other brokers (see pg-relay.ts). */
  relayTo(send: (event: BrokerEvent) => void): void {
    this.relay = send;
  }

  /** An event that happened on this broker: delivered here and relayed to the others. */
  publish(event: BrokerEvent): void {
    this.deliver(event);
    this.relay?.(event);
  }

  /** An event from another broker: delivered here only. */
  deliver(event: BrokerEvent): void {
    const stamped = { ...event, id: this.nextId++, time: new Date(this.clock()).toISOString() };
    for (const listener of this.listeners) {
      try {
        listener(stamped);
      } catch {
        // One broken subscriber must not stop the others.
      }
    }
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }
}
