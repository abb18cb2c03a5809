/** Test helpers for event streams: follow GET /v1/events, and wait for a condition without fixed sleeps. */

export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface FollowedStream {
  /** Every `{event, data}` received so far, in order. */
  events: Array<{ event: string; data: Record<string, unknown> }>;
  /** The answer's status once it came (0 before, and when the request failed). */
  status(): number;
  /** Whether the broker ended the stream (not counting `stop()`). */
  ended(): boolean;
  stop(): void;
}

/** Reads an SSE stream into a list of {event, data} as they arrive. */
export function follow(url: string, token: string): FollowedStream {
  const events: FollowedStream["events"] = [];
  const controller = new AbortController();
  let status = 0;
  let ended = false;
  void (async () => {
    try {
      const response = await fetch(`${url}/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
      status = response.status;
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
        }
      }
      ended = true;
    } catch {
      /* aborted */
    }
  })();
  return { events, status: () => status, ended: () => ended, stop: () => controller.abort() };
}
