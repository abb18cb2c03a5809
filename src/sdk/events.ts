/**
 * Follows GET /v1/events: reconnects with backoff (and a fresh token when the broker ends the
 * stream at token expiry), treats a silent connection as dead after three missed heartbeats,
 * and opens the next stream before the token expires, so there is no gap in between.
 * Uses node:http so its socket never keeps the process alive on its own.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { StringDecoder } from "node:string_decoder";
import type { TokenSource } from "./auth.js";
import { backoffDelay, type RetryPolicy } from "./backoff.js";
import type { BrokerHttp } from "./http.js";
import { SseParser } from "./sse.js";

/** The events of GET /v1/events the client acts on. */
export type BrokerStreamEvent =
  | { type: "ready"; server: string; token_expires_at: string }
  | { type: "secret.version"; secret: string; version: number }
  | { type: "secret.deleted"; secret: string }
  | { type: "lease.revoked"; server: string; lease_id: string; secret: string; reason: string }
  | { type: "server.disabled"; server: string }
  | { type: "token.expired" };

export interface EventFollowerOptions {
  /** A stream silent this long is treated as dead, ms (default 45 000: three missed heartbeats). */
  idleTimeoutMs: number;
  /** Reconnection backoff. */
  retry: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">;
  userAgent: string;
  onEvent: (event: BrokerStreamEvent) => void;
  /** The stream is up (first `ready`) or down (closed, failed, refused). */
  onState: (up: boolean, reason?: string) => void;
  /** An attempt to connect or a live stream failed (called for every failure, up or not). */
  onFailure?: (reason: string) => void;
}

interface Connection {
  request: ClientRequest;
  response?: IncomingMessage;
  idleTimer?: NodeJS.Timeout;
  handoffTimer?: NodeJS.Timeout;
  ready: boolean;
  closed: boolean;
}

export class EventFollower {
  private stopped = false;
  private connection: Connection | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private up = false;

  constructor(
    private readonly http: BrokerHttp,
    private readonly tokens: TokenSource,
    private readonly options: EventFollowerOptions,
  ) {}

  start(): void {
    if (this.connection || this.reconnectTimer || this.stopped) return;
    void this.connect();
  }

  get isUp(): boolean {
    return this.up;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    if (this.connection) this.close(this.connection);
    this.connection = undefined;
  }

  private setState(up: boolean, reason?: string): void {
    if (this.up === up) return;
    this.up = up;
    this.options.onState(up, reason);
  }

  private async connect(): Promise<void> {
    this.reconnectTimer = undefined;
    if (this.stopped) return;
    let token: string;
    try {
      token = await this.tokens.token();
    } catch (error) {
      return this.failed(undefined, `cannot authenticate: ${(error as Error).message}`);
    }
    if (this.stopped) return;
    const baseUrl = this.http.baseUrl;
    const url = new URL(`${baseUrl}/v1/events`);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const request = send(url, {
      method: "GET",
      agent: false,
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream", "user-agent": this.options.userAgent },
      timeout: this.http.timeoutMs,
    });
    const connection: Connection = { request, ready: false, closed: false };
    const previous = this.connection;
    this.connection = connection;
    request.on("socket", (socket) => socket.unref());
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", (error) => {
      if (!connection.closed) {
        this.http.failed(baseUrl);
        this.failed(connection, error.message);
      }
    });
    request.on("response", (response) => {
      connection.response = response;
      if (response.statusCode !== 200 || !String(response.headers["content-type"] ?? "").startsWith("text/event-stream")) {
        if (response.statusCode === 401) this.tokens.invalidate(token);
        if ((response.statusCode ?? 0) >= 500) this.http.failed(baseUrl);
        response.resume();
        return this.failed(connection, `HTTP ${response.statusCode}`);
      }
      request.setTimeout(0);
      const decoder = new StringDecoder("utf8");
      const parser = new SseParser(
        (event) => this.dispatch(connection, previous, event.event, event.data),
        () => {},
      );
      this.touch(connection);
      response.on("data", (chunk: Buffer) => {
        this.touch(connection);
        parser.feed(decoder.write(chunk));
      });
      response.on("end", () => this.failed(connection, "the broker closed the stream"));
      response.on("error", (error) => this.failed(connection, error.message));
    });
    request.end();
  }

  private dispatch(connection: Connection, previous: Connection | undefined, type: string, data: string): void {
    if (connection.closed) return;
    let payload: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(data);
      if (parsed && typeof parsed === "object") payload = parsed as Record<string, unknown>;
    } catch {
      return;
    }
    if (type === "ready") {
      connection.ready = true;
      this.failures = 0;
      // The hand-off: the new stream is live, the old one can go.
      if (previous && previous !== connection) this.close(previous);
      const expiresAt = Date.parse(String(payload.token_expires_at ?? ""));
      if (Number.isFinite(expiresAt)) {
        const wait = Math.max(1_000, ((expiresAt - Date.now()) * 2) / 3);
        connection.handoffTimer = setTimeout(() => {
          if (!connection.closed && this.connection === connection && !this.stopped) void this.connect();
        }, Math.min(wait, 2 ** 31 - 1));
        connection.handoffTimer.unref();
      }
      this.setState(true);
    }
    if (type === "token.expired") {
      this.tokens.invalidate();
    }
    this.options.onEvent({ type, ...payload } as BrokerStreamEvent);
  }

  private touch(connection: Connection): void {
    clearTimeout(connection.idleTimer);
    connection.idleTimer = setTimeout(() => {
      if (!connection.closed) {
        connection.request.destroy();
        this.failed(connection, "no heartbeat from the broker");
      }
    }, this.options.idleTimeoutMs);
    connection.idleTimer.unref();
  }

  private close(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    clearTimeout(connection.idleTimer);
    clearTimeout(connection.handoffTimer);
    connection.response?.destroy();
    connection.request.destroy();
  }

  private failed(connection: Connection | undefined, reason: string): void {
    if (connection) {
      if (connection.closed) return;
      this.close(connection);
      // A stream replaced by a newer one ends quietly.
      if (this.connection !== connection) return;
      this.connection = undefined;
    }
    if (this.stopped) return;
    this.setState(false, reason);
    this.options.onFailure?.(reason);
    // A clean end (token expiry) reconnects at once; failures back off.
    const clean = connection?.ready === true && reason === "the broker closed the stream";
    const delay = clean ? 0 : backoffDelay(this.failures, this.options.retry);
    if (!clean) this.failures += 1;
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
    this.reconnectTimer.unref();
  }
}
