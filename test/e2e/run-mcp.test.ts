/**
 * End to end, wrapper path: an unmodified MCP server started by `credbroker run` with its key,
 * and a real MCP client talking to it through the wrapper across key rotations and a revocation.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testSecret } from "../helpers/broker.js";
import { RUN_POLICY, startRunBroker, type RunBroker } from "../helpers/run-wrapper.js";
import { waitFor } from "../helpers/wait.js";
import { fingerprint, type McpSession, type Ticket } from "./mcp.js";

describe("credbroker run with an MCP server over stdio", () => {
  let r: RunBroker;
  let key: string;
  let session: McpSession;
  beforeAll(async () => {
    r = await startRunBroker();
    key = r.key;
    session = await r.connectThroughRun();
  });
  afterAll(async () => {
    await session?.close();
    await r?.b.close();
  });

  it("serves tool calls with the injected key", async () => {
    expect(await session.lookup("T-1")).toMatchObject({ ticket_id: "T-1", key_sha256_prefix: fingerprint(key), key_length: key.length });
  });

  it("restarts the server with a rotated key, keeping the client's session", async () => {
    const before = await session.lookup("T-2");
    const rotated = testSecret("tickets-key-v2");
    await r.b.putSecret("tickets/api-key", rotated);
    const after = await waitFor("the restarted server", async () => {
      const ticket = await session.lookup("T-3");
      return ticket.key_sha256_prefix === fingerprint(rotated) && ticket;
    });
    expect(after.server_pid).not.toBe(before.server_pid);
    expect((await session.client.listTools()).tools.map((tool) => tool.name)).toEqual(["lookup_ticket"]);
    expect(session.stderr()).toContain("new value for TICKETS_API_KEY: restarting the command");
    expect(session.stderr()).not.toContain(rotated);
    key = rotated;
  });

  it("answers every call of a client calling every ~200 ms across a rotation-triggered restart", async () => {
    const first = await session.lookup("warm-up");
    const calls: Array<Promise<Ticket>> = [];
    let stop = false;
    // A real client pacing real calls: the restart happens in other processes, on their own time.
    const ticker = (async () => {
      for (let i = 0; !stop; i += 1) {
        calls.push(session.lookup(`T-${i}`));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    await waitFor("a few calls before the rotation", () => calls.length >= 3);
    const rotated = testSecret("tickets-key-v3");
    await r.b.putSecret("tickets/api-key", rotated);
    await waitFor(
      "a call answered by the new server",
      async () => (await Promise.allSettled(calls)).some((result) => result.status === "fulfilled" && result.value.key_sha256_prefix === fingerprint(rotated)),
      30_000,
      200,
    );
    const countAfter = calls.length;
    await waitFor("a few calls after the restart", () => calls.length >= countAfter + 3);
    stop = true;
    await ticker;
    const results = await Promise.allSettled(calls);
    const failures = results.filter((result) => result.status === "rejected").map((result) => String((result as PromiseRejectedResult).reason));
    expect(failures).toEqual([]);
    const pids = new Set(results.map((result) => (result as PromiseFulfilledResult<Ticket>).value.server_pid));
    expect(pids.has(first.server_pid)).toBe(true);
    expect(pids.size).toBe(2);
    key = rotated;
  });

  it("stops the server and exits 1 when its key is revoked and may not be fetched again", async () => {
    const doomed = await r.connectThroughRun();
    try {
      await doomed.lookup("T-9");
      r.b.writePolicy("test.yaml", RUN_POLICY.replace(`["tickets/api-key", "tickets/other"]`, `["tickets/other"]`));
      await r.b.admin("POST", "/v1/admin/leases/revoke", { secret: "tickets/api-key" });
      await doomed.closed;
      expect(doomed.stderr()).toMatch(/stopping .*TICKETS_API_KEY may no longer be used/);
      expect(doomed.stderr()).not.toContain(key);
    } finally {
      r.b.writePolicy("test.yaml", RUN_POLICY);
      await doomed.close();
    }
  });
});
