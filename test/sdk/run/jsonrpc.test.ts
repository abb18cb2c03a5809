/** Newline framing and JSON-RPC classification of the stdio relay. */
import { describe, expect, it } from "vitest";
import { classifyLine, idKey, LineSplitter } from "../../../src/sdk/run/jsonrpc.js";

describe("LineSplitter", () => {
  it("returns complete lines with their newline, bytes untouched, across chunk boundaries", () => {
    const splitter = new LineSplitter();
    expect(splitter.push(Buffer.from("ab"))).toEqual([]);
    expect(splitter.push(Buffer.from("c\r\nd\n\nef")).map(String)).toEqual(["abc\r\n", "d\n", "\n"]);
    expect(splitter.partial).toBe(true);
    expect(String(splitter.flush())).toBe("ef");
    expect(splitter.flush()).toBeUndefined();
  });

  it("keeps multi-byte characters split across chunks intact", () => {
    const splitter = new LineSplitter();
    const bytes = Buffer.from("☃\n");
    expect(splitter.push(bytes.subarray(0, 1))).toEqual([]);
    expect(splitter.push(bytes.subarray(1))[0]!.equals(bytes)).toBe(true);
  });

  it("passes an over-long line on in pieces instead of buffering without bound", () => {
    const splitter = new LineSplitter(4);
    expect(splitter.push(Buffer.from("abcdef")).map(String)).toEqual(["abcdef"]);
  });
});

describe("classifyLine", () => {
  it.each([
    ['{"jsonrpc":"2.0","id":1,"method":"initialize"}', [["request", 1, "initialize"]]],
    ['{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{}}', [["request", "a", "tools/call"]]],
    ['{"jsonrpc":"2.0","method":"notifications/initialized"}', [["notification", undefined, "notifications/initialized"]]],
    ['{"jsonrpc":"2.0","id":1,"result":{}}', [["response", 1, undefined]]],
    ['{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}', [["response", undefined, undefined]]],
    ['[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]', [["request", 1, "a"], ["notification", undefined, "b"]]],
  ])("%s", (text, expected) => {
    expect(classifyLine(Buffer.from(text))!.map((m) => [m.kind, m.id, m.method])).toEqual(expected);
  });

  it.each(["hello", "", "{}", '{"jsonrpc":"1.0","id":1,"method":"a"}', "[]", '[{"jsonrpc":"2.0","id":1,"method":"a"}, 3]', "null"])("%j is not JSON-RPC", (text) => {
    expect(classifyLine(Buffer.from(text))).toBeUndefined();
  });

  it("keeps numeric and string ids apart", () => {
    expect(idKey(1)).not.toBe(idKey("1"));
  });
});
