/**
 * The webhook checkpoint sink: POSTs each checkpoint as JSON to a URL, in the background. A
 * checkpoint is queued and retried (bounded attempts, doubling delay); the queue is bounded too,
 * so a receiver that is down costs memory for at most MAX_QUEUE checkpoints and never a request.
 */
import type { SignedCheckpoint } from "../checkpoint.js";
import type { CheckpointSink } from "./sink.js";

export interface WebhookSinkOptions {
  url: string;
  /** Per attempt, milliseconds. */
  timeoutMs: number;
  /** Attempts per checkpoint, at least 1. */
  maxAttempts: number;
  /** Headers sent with each POST (e.g. an authorization header); never logged. */
  headers?: Record<string, string>;
  /** First retry delay, milliseconds (doubles per attempt). */
  retryDelayMs?: number;
  /** Called when a checkpoint is given up on, with a reason that names no header value. */
  onDropped?: (checkpoint: SignedCheckpoint, reason: string) => void;
  fetch?: typeof fetch;
}

/** Checkpoints waiting for delivery before the oldest is dropped. */
const MAX_QUEUE = 100;
/** How long close() waits for deliveries in flight. */
const CLOSE_WAIT_MS = 5_000;

export class WebhookCheckpointSink implements CheckpointSink {
  readonly description: string;
  private readonly queue: SignedCheckpoint[] = [];
  private delivering: Promise<void> | undefined;
  private closed = false;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: WebhookSinkOptions) {
    // The origin only: a path or query may carry a token.
    this.description = `webhook ${new URL(options.url).origin}`;
    this.fetch = options.fetch ?? fetch;
  }

  async write(checkpoint: SignedCheckpoint): Promise<void> {
    if (this.closed) throw new Error(`${this.description} is closed`);
    this.queue.push(checkpoint);
    if (this.queue.length > MAX_QUEUE) this.options.onDropped?.(this.queue.shift()!, "the delivery queue is full");
    this.delivering ??= this.deliverAll().finally(() => (this.delivering = undefined));
  }

  private async deliverAll(): Promise<void> {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      const reason = await this.deliver(next);
      if (reason !== undefined) this.options.onDropped?.(next, reason);
    }
  }

  /** Undefined when delivered, else why not after every attempt. */
  private async deliver(checkpoint: SignedCheckpoint): Promise<string | undefined> {
    let reason = "not attempted";
    let delayMs = this.options.retryDelayMs ?? 500;
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt += 1) {
      try {
        const response = await this.fetch(this.options.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...this.options.headers },
          body: JSON.stringify(checkpoint),
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
        await response.body?.cancel();
        if (response.ok) return undefined;
        reason = `HTTP ${response.status}`;
      } catch (error) {
        reason = error instanceof Error ? error.name : "request failed";
      }
      if (attempt < this.options.maxAttempts && !this.closed) {
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
        delayMs *= 2;
      }
    }
    return `${reason} after ${this.options.maxAttempts} attempt(s)`;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (!this.delivering) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.delivering, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }
}
