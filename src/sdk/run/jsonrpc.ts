/**
 * Just enough JSON-RPC 2.0 for the stdio relay: newline framing that keeps each line's exact
 * bytes, and a classification of a line as requests, notifications and responses.
 */

export type RequestId = string | number;

/** A map key that keeps `1` and `"1"` apart. */
export const idKey = (id: RequestId): string => `${typeof id === "number" ? "n" : "s"}:${id}`;

export interface RpcMessage {
  kind: "request" | "notification" | "response";
  id?: RequestId;
  method?: string;
  params?: unknown;
  /** The parsed message, for replays. */
  message: Record<string, unknown>;
}

function classifyOne(value: unknown): RpcMessage | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const message = value as Record<string, unknown>;
  if (message.jsonrpc !== "2.0") return undefined;
  const id = typeof message.id === "string" || typeof message.id === "number" ? message.id : undefined;
  if (typeof message.method === "string") {
    return id === undefined
      ? { kind: "notification", method: message.method, params: message.params, message }
      : { kind: "request", id, method: message.method, params: message.params, message };
  }
  if ("result" in message || "error" in message) return { kind: "response", ...(id !== undefined && { id }), message };
  return undefined;
}

/**
 * The JSON-RPC messages of one line (a batch gives several), or undefined when the line is not
 * JSON-RPC at all.
 */
export function classifyLine(line: Buffer): RpcMessage[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString("utf8"));
  } catch {
    return undefined;
  }
  if (Array.isArray(parsed)) {
    const messages = parsed.map(classifyOne);
    return messages.length > 0 && messages.every((m) => m !== undefined) ? (messages as RpcMessage[]) : undefined;
  }
  const one = classifyOne(parsed);
  return one ? [one] : undefined;
}

/** One message as a line, the way the MCP stdio transport frames it. */
export function serialize(message: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(message)}\n`, "utf8");
}

/** Splits a byte stream into lines, each returned with its own `\n`, bytes untouched. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** @param maxLineBytes a line longer than this is passed on in pieces rather than buffered without bound. */
  constructor(private readonly maxLineBytes = 64 * 1024 * 1024) {}

  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      if (newline < 0) break;
      const piece = chunk.subarray(start, newline + 1);
      if (this.pending.length > 0) {
        lines.push(Buffer.concat([...this.pending, piece]));
        this.pending = [];
        this.pendingBytes = 0;
      } else {
        lines.push(piece);
      }
      start = newline + 1;
    }
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.pendingBytes += chunk.length - start;
      if (this.pendingBytes > this.maxLineBytes) lines.push(this.flush()!);
    }
    return lines;
  }

  /** Whatever is left without a final newline. */
  flush(): Buffer | undefined {
    if (this.pending.length === 0) return undefined;
    const rest = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return rest;
  }

  get partial(): boolean {
    return this.pending.length > 0;
  }
}
