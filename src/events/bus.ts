/**
 * In-process publish/subscribe of broker events that running MCP servers must learn about: a new
 * version of a secret, a deletion, a revoked lease, a disabled server. GET /v1/events streams the
 * events that concern each server. (Several brokers on PostgreSQL relay these through
 * LISTEN/NOTIFY; the bus is the single point where that plugs in.)
 */
export type BrokerEvent =
  | { type: "secret.version"; secret: string; version: number }
  | { type: "secret.deleted"; secret: string }
  | { type: "lease.revoked"; server: string; lease_id: string; secret: string; reason: string }
  | { type: "server.disabled"; server: string };

export type EventListener = (event: BrokerEvent & { id: number; time: string }) => void;

export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private nextId = 1;

  constructor(private readonly clock: () => number = Date.now) {}

  publish(event: BrokerEvent): void {
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
