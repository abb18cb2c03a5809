/**
 * Keeps an MCP client's stdio session alive while `credbroker run` replaces the server process
 * under it (to hand it rotated secrets).
 *
 * Every byte passes through unchanged, line by line. The relay remembers the client's
 * `initialize` request, `notifications/initialized`, its logging level and resource
 * subscriptions; on a restart it holds the client's new messages, lets the old child answer what
 * it has in flight (up to a drain timeout), fails what is left with a JSON-RPC error (or replays
 * it when the method is a read, such as tools/list), then replays the session to the new child
 * with ids of its own, swallows those answers, and releases the held messages in order.
 *
 * A client whose first line is not JSON-RPC is not MCP: the relay then passes bytes straight
 * through (mode `raw`), and a restart only holds input meanwhile.
 */
import { classifyLine, idKey, LineSplitter, serialize, type RequestId, type RpcMessage } from "./jsonrpc.js";

/** The child's stdin, as the session writes to it. */
export interface ChildInput {
  write(bytes: Buffer): void;
  end(): void;
}

export interface SessionOutput {
  /** Bytes for the client (the wrapper's stdout). */
  toClient(bytes: Buffer): void;
  /** A diagnostic line for the wrapper's stderr. */
  log(message: string): void;
}

export type StdioMode = "auto" | "mcp" | "raw";

export interface StdioSessionOptions {
  mode?: StdioMode;
  /** Requests in flight at a restart with these methods are sent to the new child instead of failed. */
  replayable?: ReadonlySet<string>;
  /** How long the new child may take to answer a replayed request, ms (default 30 000). */
  replayTimeoutMs?: number;
}

/** Reads without side effects: safe to send again to the new child. */
export const REPLAYABLE_METHODS: ReadonlySet<string> = new Set([
  "initialize",
  "ping",
  "tools/list",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "completion/complete",
]);

/** JSON-RPC error code for a request the old server process never answered. */
export const RESTART_ERROR_CODE = -32000;

/** The longest first line examined to tell MCP from other traffic. */
const DETECT_LIMIT = 64 * 1024;

interface PendingRequest {
  line: Buffer;
  method: string;
}

export class StdioSession {
  private mode: "detect" | "mcp" | "raw";
  private child: ChildInput | undefined;
  private generation = 0;
  private holding = true;
  private held: Buffer[] = [];
  private detectBuffer: Buffer[] = [];
  private readonly clientLines = new LineSplitter();
  private childLines = new LineSplitter();
  private clientEnded = false;

  /** Client requests the current child has not answered, by id key. */
  private readonly pending = new Map<string, PendingRequest>();
  /** Requests of a replaced child, to send to the next one. */
  private replay: PendingRequest[] = [];
  /** Server-to-client requests, by id key, with the generation of the child that sent them. */
  private readonly serverRequests = new Map<string, number>();
  /** Requests the relay itself sent to a new child, by id. */
  private readonly internal = new Map<string, { resolve: (message: Record<string, unknown>) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private internalSeq = 0;
  private drainWaiters: Array<() => void> = [];

  private initialize: { message: Record<string, unknown>; answered: boolean } | undefined;
  private initialized: Buffer | undefined;
  private logLevel: unknown;
  private readonly subscriptions = new Map<string, unknown>();
  private readonly replayable: ReadonlySet<string>;
  private readonly replayTimeoutMs: number;

  constructor(
    private readonly output: SessionOutput,
    options: StdioSessionOptions = {},
  ) {
    const mode = options.mode ?? "auto";
    this.mode = mode === "auto" ? "detect" : mode;
    this.replayable = options.replayable ?? REPLAYABLE_METHODS;
    this.replayTimeoutMs = options.replayTimeoutMs ?? 30_000;
  }

  /** `mcp` once the client spoke JSON-RPC, `raw` for anything else, `detect` before its first line. */
  get detectedMode(): "detect" | "mcp" | "raw" {
    return this.mode;
  }

  /** Client requests in flight in the current child. */
  get inFlight(): number {
    return this.pending.size;
  }

  // client side -----------------------------------------------------------------------------

  /** Bytes from the client (the wrapper's stdin). */
  fromClient(chunk: Buffer): void {
    if (this.mode === "detect") {
      this.detectBuffer.push(chunk);
      const buffered = Buffer.concat(this.detectBuffer);
      const newline = buffered.indexOf(0x0a);
      if (newline < 0 && buffered.length < DETECT_LIMIT) return;
      this.decide(newline < 0 ? buffered : buffered.subarray(0, newline + 1));
      this.detectBuffer = [];
      return this.fromClient(buffered);
    }
    if (this.mode === "raw") return this.toChild(chunk);
    for (const line of this.clientLines.push(chunk)) this.clientLine(line);
  }

  /** The client closed its end (EOF on stdin). */
  endFromClient(): void {
    if (this.mode === "detect") {
      const buffered = Buffer.concat(this.detectBuffer);
      this.detectBuffer = [];
      this.decide(buffered);
      if (buffered.length > 0) this.fromClient(buffered);
    }
    const rest = this.mode === "mcp" ? this.clientLines.flush() : undefined;
    if (rest) this.clientLine(rest);
    this.clientEnded = true;
    if (!this.holding) this.child?.end();
  }

  private decide(firstLine: Buffer): void {
    this.mode = firstLine.length > 0 && classifyLine(firstLine) !== undefined ? "mcp" : "raw";
  }

  private clientLine(line: Buffer): void {
    if (this.holding) {
      this.held.push(line);
      return;
    }
    this.deliver(line);
  }

  /** Tracks one client line and writes it to the current child. */
  private deliver(line: Buffer): void {
    const messages = classifyLine(line);
    let forward = true;
    if (messages) {
      const stale = messages.filter((m) => m.kind === "response" && m.id !== undefined && this.isStaleServerRequest(m.id));
      // The client answers a request of a child that is gone: the new child never asked.
      if (stale.length === messages.length) forward = false;
      for (const message of messages) this.trackClient(message, line, messages.length === 1);
    }
    if (forward) this.child!.write(line);
  }

  private isStaleServerRequest(id: RequestId): boolean {
    const generation = this.serverRequests.get(idKey(id));
    this.serverRequests.delete(idKey(id));
    return generation !== undefined && generation !== this.generation;
  }

  private trackClient(message: RpcMessage, line: Buffer, single: boolean): void {
    if (message.kind === "request") {
      const method = message.method!;
      this.pending.set(idKey(message.id!), { line: single ? line : serialize(message.message), method });
      if (method === "initialize") this.initialize = { message: message.message, answered: false };
      else if (method === "logging/setLevel") this.logLevel = message.params;
      else if (method === "resources/subscribe" || method === "resources/unsubscribe") {
        const uri = (message.params as { uri?: unknown } | undefined)?.uri;
        if (typeof uri === "string") {
          if (method === "resources/subscribe") this.subscriptions.set(uri, message.params);
          else this.subscriptions.delete(uri);
        }
      }
    } else if (message.kind === "notification") {
      if (message.method === "notifications/initialized") this.initialized = single ? line : serialize(message.message);
      if (message.method === "notifications/cancelled") {
        const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
        if (typeof requestId === "string" || typeof requestId === "number") this.answered(idKey(requestId));
      }
    }
  }

  private toChild(bytes: Buffer): void {
    if (this.holding) this.held.push(bytes);
    else this.child!.write(bytes);
  }

  // child side ------------------------------------------------------------------------------

  /** Bytes from the stdout of the child attached as `generation`; output of replaced children is dropped. */
  fromChild(generation: number, chunk: Buffer): void {
    if (generation !== this.generation) return;
    if (this.mode !== "mcp") {
      this.output.toClient(chunk);
      return;
    }
    for (const line of this.childLines.push(chunk)) this.childLine(line);
  }

  /** The child's stdout ended: pass on any last bytes without a newline. */
  endFromChild(generation: number): void {
    if (generation !== this.generation) return;
    const rest = this.childLines.flush();
    if (rest) this.output.toClient(rest);
  }

  private childLine(line: Buffer): void {
    const messages = classifyLine(line);
    if (!messages) {
      this.output.toClient(line);
      return;
    }
    let internalOnly = true;
    for (const message of messages) {
      if (message.kind === "response" && typeof message.id === "string" && this.internal.has(message.id)) {
        const waiter = this.internal.get(message.id)!;
        this.internal.delete(message.id);
        clearTimeout(waiter.timer);
        waiter.resolve(message.message);
        continue;
      }
      internalOnly = false;
      if (message.kind === "response" && message.id !== undefined) {
        if (this.initialize && !this.initialize.answered && message.id === this.initialize.message.id) this.initialize.answered = true;
        this.answered(idKey(message.id));
      } else if (message.kind === "request") {
        this.serverRequests.set(idKey(message.id!), this.generation);
      }
    }
    if (!internalOnly) this.output.toClient(line);
  }

  private answered(key: string): void {
    if (!this.pending.delete(key) || this.pending.size > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  // child lifecycle -------------------------------------------------------------------------

  /**
   * Attaches a child. The first one simply starts receiving; a later one is first given the
   * session (initialize, initialized, logging level, subscriptions, replayable requests in flight),
   * then the held client messages.
   * @returns the generation to pass with this child's output to fromChild().
   * @throws Error when the new child refuses or does not answer the replayed initialize.
   */
  async attach(child: ChildInput): Promise<number> {
    this.child = child;
    this.childLines = new LineSplitter();
    const generation = this.generation;
    if (this.initialize?.answered) {
      const answer = await this.request(child, "initialize", this.initialize.message.params);
      if (generation !== this.generation) return generation;
      if ("error" in answer) throw new Error(`the restarted server refused initialize: ${JSON.stringify(answer.error)}`);
      if (this.initialized) child.write(this.initialized);
      const followUps: Array<Promise<unknown>> = [];
      if (this.logLevel !== undefined) followUps.push(this.request(child, "logging/setLevel", this.logLevel).catch(() => undefined));
      for (const params of this.subscriptions.values()) followUps.push(this.request(child, "resources/subscribe", params).catch(() => undefined));
      await Promise.all(followUps);
      if (generation !== this.generation) return generation;
    }
    const replay = this.replay;
    this.replay = [];
    this.holding = false;
    for (const request of replay) this.deliver(request.line);
    const held = this.held;
    this.held = [];
    for (const bytes of held) {
      if (this.mode === "mcp") this.deliver(bytes);
      else child.write(bytes);
    }
    if (this.clientEnded) child.end();
    return generation;
  }

  /** The generation the next attach() returns; output of a child started for it can be routed before attach resolves. */
  get currentGeneration(): number {
    return this.generation;
  }

  /** Stops passing client messages to the current child; they wait for the next one. */
  hold(): void {
    this.holding = true;
  }

  /** Resolves once the current child has answered every request in flight, or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.drainWaiters.push(done);
    });
  }

  /**
   * The current child is going away. Requests it has in flight are failed with a JSON-RPC error,
   * or kept to replay when their method is replayable; whatever it writes from now on is dropped.
   */
  detach(reason: string): void {
    this.holding = true;
    for (const [key, request] of this.pending) {
      if (this.replayable.has(request.method)) {
        this.replay.push(request);
        continue;
      }
      const id = decodeKey(key);
      this.output.toClient(serialize({ jsonrpc: "2.0", id, error: { code: RESTART_ERROR_CODE, message: `${reason}; the server restarted before it answered ${request.method}, so its outcome is unknown` } }));
    }
    this.pending.clear();
    for (const wake of this.drainWaiters.splice(0)) wake();
    for (const [id, waiter] of this.internal) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error("the server process went away during the replay"));
      this.internal.delete(id);
    }
    // A line the old child left half written never reaches the client.
    this.childLines = new LineSplitter();
    this.child = undefined;
    this.generation += 1;
  }

  private request(child: ChildInput, method: string, params: unknown): Promise<Record<string, unknown>> {
    const id = `credbroker-run-${++this.internalSeq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.internal.delete(id);
        reject(new Error(`the restarted server did not answer ${method} within ${this.replayTimeoutMs} ms`));
      }, this.replayTimeoutMs);
      timer.unref();
      this.internal.set(id, { resolve, reject, timer });
      child.write(serialize({ jsonrpc: "2.0", id, method, ...(params !== undefined && { params }) }));
    });
  }
}

function decodeKey(key: string): RequestId {
  const value = key.slice(2);
  return key.startsWith("n:") ? Number(value) : value;
}
