/**
 * HTTP listening: serves the app built from {@link AppDeps} on the configured `host:port` and
 * reports the URL it is reachable at (with the port the system chose when the config says 0).
 * Closing stops accepting, drops kept-alive connections and resolves once the server has closed.
 */
import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { createApp } from "../http/app.js";
import type { AppDeps } from "../http/deps.js";

export interface HttpListener {
  /** `http://host:port` of the bound address; an IPv6 host is bracketed. */
  url: string;
  close(): Promise<void>;
}

/**
 * Builds the HTTP app and serves it on `listen` (`host:port`, the host possibly bracketed IPv6).
 * Rejects when the address cannot be bound.
 */
export async function serveHttp(deps: AppDeps, listen: string): Promise<HttpListener> {
  const app = createApp(deps);
  const [host, port] = splitListen(listen);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(started));
    started.once("error", reject);
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

function splitListen(listen: string): [string, number] {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return [host, Number(listen.slice(colon + 1))];
}
