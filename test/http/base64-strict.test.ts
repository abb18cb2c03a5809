/** value_base64 is decoded strictly: anything that is not canonical padded base64 is a 400, nothing is stored. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

describe("admin secret write: value_base64", () => {
  let b: TestBroker;
  beforeAll(async () => {
    b = await startTestBroker();
  });
  afterAll(() => b.close());

  it.each([
    ["trailing garbage after padding", "aGVsbG8=garbage"],
    ["base64url alphabet", "-_8="],
    ["missing padding", "aGVsbG8"],
    ["whitespace inside", "aGVs bG8="],
    ["a newline", "aGVsbG8=\n"],
    ["non-zero trailing bits", "aGVsbG9="],
    ["padding in the middle", "aG==bG8="],
    ["a lone character", "a"],
    ["non-ASCII", "aGVsbG8é"],
  ])("refuses %s with 400 naming the field and stores nothing", async (_label, encoded) => {
    const path = `b64/${Math.random().toString(36).slice(2, 10)}`;
    const { status, body } = await b.admin<{ error: { code: string; message: string } }>("POST", "/v1/admin/secrets", { path, value_base64: encoded });
    expect(status).toBe(400);
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.message).toContain("value_base64");
    expect((await b.admin("GET", `/v1/admin/secrets/${path}`)).status).toBe(404);
  });

  it.each([
    ["aGVsbG8=", "hello"],
    ["aGVsbA==", "hell"],
    ["aGVs", "hel"],
  ])("stores canonical %j as its bytes", async (encoded, decoded) => {
    const path = `b64/${Math.random().toString(36).slice(2, 10)}`;
    const written = await b.admin("POST", "/v1/admin/secrets", { path, value_base64: encoded });
    expect(written.status).toBe(201);
    const read = await b.admin<{ value: string }>("POST", "/v1/admin/secrets/read", { path });
    expect(read.status).toBe(200);
    expect(read.body.value).toBe(decoded);
  });

  it("round-trips binary bytes", async () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x7f]);
    const written = await b.admin("POST", "/v1/admin/secrets", { path: "b64/binary", value_base64: bytes.toString("base64") });
    expect(written.status).toBe(201);
    const read = await b.admin<{ value: string; encoding: string }>("POST", "/v1/admin/secrets/read", { path: "b64/binary" });
    expect(read.body).toMatchObject({ encoding: "base64", value: bytes.toString("base64") });
  });
});
