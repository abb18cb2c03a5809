/**
 * A Server-Sent Events parser (WHATWG HTML, "event stream interpretation"): feed it text as it
 * arrives, it calls back once per dispatched event. Comments (`: heartbeat`) are reported
 * separately so a caller can use them as a liveness signal.
 */
export interface SseEvent {
  /** The `event:` field, `"message"` when absent. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen on the stream, if any. */
  id: string | undefined;
  /** A `retry:` reconnection delay in milliseconds, if the event carried one. */
  retryMs: number | undefined;
}

export class SseParser {
  private buffer = "";
  private started = false;
  private pendingCarriageReturn = false;
  private eventType = "";
  private data: string[] = [];
  private hasData = false;
  private lastEventId: string | undefined;
  private retryMs: number | undefined;

  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    private readonly onComment: (text: string) => void = () => {},
  ) {}

  /** Feeds a chunk of decoded text; may dispatch any number of events. */
  feed(chunk: string): void {
    let text = chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // A CR that ended the previous chunk already ended its line: skip the LF of a split CRLF.
    if (this.pendingCarriageReturn && text.startsWith("\n")) text = text.slice(1);
    this.pendingCarriageReturn = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf("\r", start);
      const lf = this.buffer.indexOf("\n", start);
      if (cr < 0 && lf < 0) break;
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      const line = this.buffer.slice(start, end);
      if (this.buffer[end] === "\r") {
        if (end + 1 === this.buffer.length) {
          this.pendingCarriageReturn = true;
          start = end + 1;
        } else {
          start = this.buffer[end + 1] === "\n" ? end + 2 : end + 1;
        }
      } else {
        start = end + 1;
      }
      this.line(line);
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return this.onComment(line.slice(1).trimStart());
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data.push(value);
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        // Unknown fields are ignored, as the standard requires.
        break;
    }
  }

  private dispatch(): void {
    const retryMs = this.retryMs;
    this.retryMs = undefined;
    if (!this.hasData) {
      this.eventType = "";
      return;
    }
    const event: SseEvent = { event: this.eventType || "message", data: this.data.join("\n"), id: this.lastEventId, retryMs };
    this.eventType = "";
    this.data = [];
    this.hasData = false;
    this.onEvent(event);
  }
}
