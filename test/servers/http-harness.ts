/**
 * Shared plumbing for the in-repo test servers (Vault, Secrets Manager): a plain `node:http`
 * server behind a `node:net` listener, so that tests can make the service misbehave the way a
 * real network dependency does: refuse connections, reset them, hang, or answer slowly.
 *
 * The `net` layer exists for two reasons:
 *  - "down" modes need control below HTTP (a refused connect is not an HTTP status);
 *  - Vault's API uses the `LIST` verb, which Node's HTTP parser rejects. The harness rewrites
 *    the request line of such methods to `GET` and passes the original verb in
 *    {@link ORIGINAL_METHOD_HEADER}, so handlers see the method the client really sent.
 */
import { Duplex } from "node:stream";
import http from "node:http";
import net from "node:net";

/** How a downed server behaves towards clients. */
export type DownMode =
  /** Accept the TCP connection, then reset it: clients see ECONNRESET / "socket hang up". */
  | "reset"
  /** Stop listening: clients see ECONNREFUSED. The same port is reused when the server comes back. */
  | "refuse"
  /** Accept and read the request, never answer: clients see their own timeout. */
  | "hang";

/** Header carrying the real request method when the harness rewrote it (lower case, as Node exposes it). */
export const ORIGINAL_METHOD_HEADER = "x-test-server-original-method";

/** A clock the servers read instead of `Date.now()`, so TTL and expiry tests need no real waiting. */
export interface TestClock {
  /** Milliseconds since the epoch, as `Date.now()`. */
  now(): number;
  /** Moves the clock forward; negative values are rejected. */
  advance(seconds: number): void;
}

/** Builds a clock from an optional base time source (default `Date.now`) plus a manual offset. */
export function createTestClock(base: () => number = Date.now): TestClock {
  let offsetMs = 0;
  return {
    now: () => base() + offsetMs,
    advance(seconds: number) {
      if (!Number.isFinite(seconds) || seconds < 0) {
        throw new TypeError(`advanceClock expects a non-negative number of seconds, got ${seconds}`);
      }
      offsetMs += seconds * 1000;
    },
  };
}

/** What a handler gets for one request: the parsed basics and the full body. */
export interface HarnessRequest {
  /** The method the client sent (LIST stays LIST). Upper case. */
  method: string;
  /** Path without the query string, percent-decoding left to the handler. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** What a handler answers. A `body` of `undefined` sends no body (e.g. 204). */
export interface HarnessResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export type HarnessHandler = (request: HarnessRequest) => HarnessResponse | Promise<HarnessResponse>;

export interface HarnessOptions {
  handler: HarnessHandler;
  /** Request methods Node cannot parse that must be rewritten to GET (e.g. Vault's LIST). */
  extraMethods?: readonly string[];
  /** Called after each answered request, for request logs. */
  onResponse?: (request: HarnessRequest, response: HarnessResponse) => void;
}

/** A running harness server. All methods are safe to call in any order; `close` is idempotent. */
export interface HarnessServer {
  readonly host: string;
  readonly port: number;
  /**
   * Takes the server down (`true` means "reset") or brings it back (`false`). Existing connections
   * are dropped either way. Resolves once the change is in effect (coming back from "refuse" has to
   * listen again on the same port): await it before the next request.
   */
  setDown(down: boolean | DownMode): Promise<void>;
  /** Whether the server is currently down, and how. `false` when up. */
  downMode(): DownMode | false;
  setLatencyMs(ms: number): void;
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
const MAX_HEAD_BYTES = 64 * 1024;

/** Starts a harness server on 127.0.0.1 and an ephemeral port. */
export async function startHarness(options: HarnessOptions): Promise<HarnessServer> {
  const rawSockets = new Set<net.Socket>();
  const hangingResponses = new Set<http.ServerResponse>();
  const pendingTimers = new Set<NodeJS.Timeout>();
  let down: DownMode | false = false;
  let latencyMs = 0;
  let closed = false;
  let port = 0;

  const httpServer = http.createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void respond(req, res, Buffer.concat(chunks));
    });
    req.on("error", () => res.destroy());
  });

  async function respond(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    if (down === "hang") {
      hangingResponses.add(res);
      res.on("close", () => hangingResponses.delete(res));
      return;
    }
    if (latencyMs > 0) {
      await sleep(latencyMs);
      if (closed || res.destroyed) return;
      // The server may have been taken down while this request was delayed.
      if (isHanging()) {
        hangingResponses.add(res);
        return;
      }
    }
    const url = new URL(req.url ?? "/", `http://${HOST}`);
    const original = req.headers[ORIGINAL_METHOD_HEADER];
    const method = (typeof original === "string" ? original : (req.method ?? "GET")).toUpperCase();
    const headers = { ...req.headers };
    delete headers[ORIGINAL_METHOD_HEADER];
    const request: HarnessRequest = { method, path: url.pathname, query: url.searchParams, headers, body };
    let response: HarnessResponse;
    try {
      response = await options.handler(request);
    } catch (error) {
      response = {
        status: 500,
        headers: { "content-type": "text/plain" },
        body: `test server handler failed: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
    if (res.destroyed) return;
    const payload = response.body === undefined ? undefined : Buffer.from(response.body);
    const outHeaders: Record<string, string | number> = { ...response.headers };
    if (payload !== undefined) outHeaders["content-length"] = payload.length;
    res.writeHead(response.status, outHeaders);
    res.end(method === "HEAD" ? undefined : payload);
    options.onResponse?.(request, response);
  }

  function isHanging(): boolean {
    return down === "hang";
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pendingTimers.delete(timer);
        resolve();
      }, ms);
      pendingTimers.add(timer);
    });
  }

  const netServer = net.createServer((socket) => {
    if (closed || down === "reset" || down === "refuse") {
      socket.resetAndDestroy();
      return;
    }
    rawSockets.add(socket);
    // Responses are written in pieces (head, body); without this, Nagle plus delayed ACKs add ~40ms stalls.
    socket.setNoDelay(true);
    socket.on("close", () => rawSockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const stream = options.extraMethods?.length ? new MethodRewritingStream(socket, options.extraMethods) : socket;
    httpServer.emit("connection", stream);
  });

  function listen(onPort: number): Promise<void> {
    return new Promise((resolve, reject) => {
      netServer.once("error", reject);
      netServer.listen(onPort, HOST, () => {
        netServer.off("error", reject);
        const address = netServer.address();
        if (address === null || typeof address === "string") {
          reject(new Error("test server: unexpected listen address"));
          return;
        }
        port = address.port;
        resolve();
      });
    });
  }

  function dropConnections(): void {
    for (const socket of rawSockets) socket.destroy();
    rawSockets.clear();
    for (const res of hangingResponses) res.destroy();
    hangingResponses.clear();
  }

  await listen(0);

  return {
    host: HOST,
    get port() {
      return port;
    },
    async setDown(next: boolean | DownMode) {
      const mode: DownMode | false = next === true ? "reset" : next;
      if (mode === down || closed) return;
      const wasRefusing = down === "refuse";
      down = mode;
      dropConnections();
      if (mode === "refuse") {
        netServer.close();
      } else if (wasRefusing) {
        // Listen again on the same port so clients configured with the old URL reach us again.
        await listen(port);
      }
    },
    downMode: () => down,
    setLatencyMs(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`setLatencyMs expects ms >= 0, got ${ms}`);
      latencyMs = ms;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of pendingTimers) clearTimeout(timer);
      pendingTimers.clear();
      dropConnections();
      if (netServer.listening) {
        await new Promise<void>((resolve) => netServer.close(() => resolve()));
      }
    },
  };
}

/**
 * A socket wrapper that rewrites the request line of methods Node's HTTP parser does not know
 * (`LIST /v1/... HTTP/1.1` becomes `GET /v1/... HTTP/1.1` plus the original-method header).
 * It follows HTTP/1.1 framing (Content-Length) so that bodies are never touched; on a chunked
 * request body it stops rewriting for the rest of that connection, which no supported client does.
 */
class MethodRewritingStream extends Duplex {
  private head = Buffer.alloc(0);
  private bodyRemaining = 0;
  private passthrough = false;

  constructor(
    private readonly raw: net.Socket,
    private readonly methods: readonly string[],
  ) {
    super();
    raw.on("data", (chunk: Buffer) => {
      if (!this.push(this.rewrite(chunk))) raw.pause();
    });
    raw.on("end", () => this.push(null));
    // The HTTP server listens for 'timeout' on the stream it was given (idle keep-alive cleanup).
    raw.on("timeout", () => this.emit("timeout"));
    raw.on("close", () => this.destroy());
    raw.on("error", (error) => this.destroy(error));
  }

  get remoteAddress(): string | undefined {
    return this.raw.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.raw.remotePort;
  }
  get localAddress(): string | undefined {
    return this.raw.localAddress;
  }
  get localPort(): number | undefined {
    return this.raw.localPort;
  }
  setTimeout(ms: number, callback?: () => void): this {
    this.raw.setTimeout(ms, callback);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.raw.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.raw.setKeepAlive(enable, delay);
    return this;
  }

  override _read(): void {
    this.raw.resume();
  }
  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.raw.write(chunk, encoding, callback);
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.raw.end();
    callback();
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.raw.destroy();
    callback(error);
  }

  private rewrite(chunk: Buffer): Buffer {
    if (this.passthrough) return chunk;
    const out: Buffer[] = [];
    let rest = chunk;
    while (rest.length > 0) {
      if (this.bodyRemaining > 0) {
        const take = Math.min(this.bodyRemaining, rest.length);
        out.push(rest.subarray(0, take));
        this.bodyRemaining -= take;
        rest = rest.subarray(take);
        continue;
      }
      this.head = Buffer.concat([this.head, rest]);
      rest = Buffer.alloc(0);
      const end = this.head.indexOf("\r\n\r\n");
      if (end === -1) {
        if (this.head.length > MAX_HEAD_BYTES) {
          this.passthrough = true;
          out.push(this.head);
          this.head = Buffer.alloc(0);
        }
        break;
      }
      const headText = this.head.subarray(0, end + 4).toString("latin1");
      rest = this.head.subarray(end + 4);
      this.head = Buffer.alloc(0);
      out.push(Buffer.from(this.rewriteHead(headText), "latin1"));
      if (/\r\ntransfer-encoding:\s*chunked/i.test(headText)) {
        this.passthrough = true;
        out.push(rest);
        break;
      }
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
      this.bodyRemaining = length?.[1] ? Number(length[1]) : 0;
    }
    return Buffer.concat(out);
  }

  private rewriteHead(headText: string): string {
    const space = headText.indexOf(" ");
    const method = headText.slice(0, space);
    if (!this.methods.includes(method.toUpperCase())) return headText;
    const lineEnd = headText.indexOf("\r\n");
    return `GET${headText.slice(space, lineEnd)}\r\n${ORIGINAL_METHOD_HEADER}: ${method}${headText.slice(lineEnd)}`;
  }
}
