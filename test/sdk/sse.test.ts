/** The Server-Sent Events parser, against the WHATWG event-stream rules. */
import { describe, expect, it } from "vitest";
import { SseParser, type SseEvent } from "../../src/sdk/sse.js";

function parse(chunks: string[]) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const parser = new SseParser(
    (event) => events.push(event),
    (comment) => comments.push(comment),
  );
  for (const chunk of chunks) parser.feed(chunk);
  return { events, comments };
}

describe("SseParser", () => {
  it("dispatches events on a blank line, with type, data and id", () => {
    const { events } = parse(['event: ready\ndata: {"a":1}\n\nid: 7\nevent: secret.version\ndata: {"v":2}\n\n']);
    expect(events).toEqual([
      { event: "ready", data: '{"a":1}', id: undefined, retryMs: undefined },
      { event: "secret.version", data: '{"v":2}', id: "7", retryMs: undefined },
    ]);
  });

  it("joins data lines, defaults the type to message, handles CR, LF and CRLF split across chunks", () => {
    const { events } = parse(["data: a\r", "\ndata:b\rdata:  c\n", "\r\n"]);
    expect(events).toEqual([{ event: "message", data: "a\nb\n c", id: undefined, retryMs: undefined }]);
  });

  it("reports comments (heartbeats) apart and ignores unknown fields and events without data", () => {
    const { events, comments } = parse([": heartbeat\n\nfoo: bar\nevent: x\n\nretry: 500\ndata\n\n"]);
    expect(comments).toEqual(["heartbeat"]);
    expect(events).toEqual([{ event: "message", data: "", id: undefined, retryMs: 500 }]);
  });

  it("strips a leading byte order mark and waits for the end of a partial event", () => {
    const { events } = parse(["\uFEFFdata: x\n", "data: y"]);
    expect(events).toEqual([]);
    expect(parse(["\uFEFFdata: x\n\n"]).events[0]!.data).toBe("x");
  });
});
