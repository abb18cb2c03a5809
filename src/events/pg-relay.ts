/**
 * Relays broker events between brokers that share a PostgreSQL database (LISTEN/NOTIFY), so a
 * revocation or a new version on one broker reaches the event streams and caches of all. One
 * dedicated connection listens; notifications go out through it too. A lost connection is
 * re-established with backoff; events published meanwhile reach only the local broker (servers'
 * SDKs fall back to polling, and every broker checks leases in the database on each request).
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Logger } from "../logger.js";
import type { BrokerEvent } from "./bus.js";

const CHANNEL = "credbroker_events";

export interface EventRelay {
  /** Sends an event to the other brokers (best effort). */
  send(event: BrokerEvent): void;
  close(): Promise<void>;
}

export async function startPgRelay(url: string, deliver: (event: BrokerEvent) => void, logger: Logger): Promise<EventRelay> {
  const origin = randomUUID();
  let client: pg.Client | undefined;
  let closed = false;
  let retryMs = 500;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    next.on("notification", (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      try {
        const { origin: from, event } = JSON.parse(message.payload) as { origin: string; event: BrokerEvent };
        if (from !== origin) deliver(event);
      } catch {
        logger.warn("ignored a malformed event notification");
      }
    });
    next.on("error", (error) => {
      logger.warn({ err: error.message }, "event relay connection lost; reconnecting");
      if (client === next) client = undefined;
      void next.end().catch(() => undefined);
      schedule();
    });
    await next.connect();
    await next.query(`LISTEN ${CHANNEL}`);
    client = next;
    retryMs = 500;
  };
  const schedule = () => {
    if (closed) return;
    const timer = setTimeout(() => {
      connect().catch((error: unknown) => {
        logger.warn({ err: String(error) }, "event relay could not reconnect");
        retryMs = Math.min(retryMs * 2, 30_000);
        schedule();
      });
    }, retryMs);
    timer.unref();
  };

  await connect();
  return {
    send(event) {
      const current = client;
      if (!current) return;
      current.query("SELECT pg_notify($1, $2)", [CHANNEL, JSON.stringify({ origin, event })]).catch((error: unknown) => {
        logger.warn({ err: String(error), type: event.type }, "could not relay an event to the other brokers");
      });
    },
    async close() {
      closed = true;
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}
