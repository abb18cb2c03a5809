/**
 * `credbroker audit query` reads the trail the way people read logs: the newest records first
 * (--newest), the last few in order (--tail N), and new records as they are written (--follow).
 * The broker's events route pages in either order with one cursor.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runCli, startDev, type DevBroker } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";

interface Record_ {
  seq: number;
  action: string;
  resource: string;
}

describe("credbroker audit query --newest, --tail, --follow", () => {
  let dev: DevBroker;
  let env: NodeJS.ProcessEnv;
  let url: string;
  let token: string;

  beforeAll(async () => {
    dev = await startDev("servers: {}\n");
    url = dev.url;
    env = dev.env;
    token = String(env.CREDBROKER_TOKEN);
    for (const id of ["one-mcp", "two-mcp", "three-mcp"]) expect((await runCli(["server", "add", id, "--json"], { env })).code).toBe(0);
  });
  afterAll(async () => {
    expect(await dev.stop()).toBe(0);
  });

  const all = async () => JSON.parse((await runCli(["audit", "query", "--json", "--limit", "1000"], { env })).stdout) as Record_[];

  it("--tail N gives the newest N in the order they happened; --newest gives them newest first", async () => {
    const everything = await all();
    expect(everything.length).toBeGreaterThan(3);
    const tail = JSON.parse((await runCli(["audit", "query", "--tail", "2", "--json"], { env })).stdout) as Record_[];
    expect(tail.map((r) => r.seq)).toEqual(everything.slice(-2).map((r) => r.seq));
    const newest = JSON.parse((await runCli(["audit", "query", "--newest", "--limit", "3", "--json"], { env })).stdout) as Record_[];
    expect(newest.map((r) => r.seq)).toEqual(everything.slice(-3).reverse().map((r) => r.seq));
  });

  it("the events route pages newest first with the same cursor, and refuses an unknown order", async () => {
    const everything = await all();
    const get = async (query: string) => {
      const response = await fetch(new URL(`/v1/audit/events?${query}`, url), { headers: { authorization: `Bearer ${token}` } });
      return { status: response.status, body: (await response.json()) as { events: Record_[]; next_cursor: string | null } };
    };
    const first = await get("order=desc&limit=2");
    const second = await get(`order=desc&limit=2&cursor=${first.body.next_cursor}`);
    expect([...first.body.events, ...second.body.events].map((r) => r.seq)).toEqual(everything.slice(-4).reverse().map((r) => r.seq));
    expect((await get("order=sideways")).status).toBe(400);
  });

  it("--follow prints records written after it started, one JSON record per line, until SIGTERM", async () => {
    const child = spawn(process.execPath, [resolve(ROOT, "dist/cli/bin.js"), "audit", "query", "--follow", "--tail", "1", "--interval", "200", "--json"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
    await waitFor("the tail line", () => stdout.split("\n").filter(Boolean).length >= 1, 15_000, 50);
    expect((await runCli(["server", "add", "four-mcp", "--json"], { env })).code).toBe(0);
    await waitFor("the new record", () => stdout.includes("four-mcp"), 15_000, 50);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    const lines = stdout.trim().split("\n").map((line) => JSON.parse(line) as Record_);
    const seqs = lines.map((record) => record.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(lines.some((record) => record.resource === "four-mcp")).toBe(true);
  });
});
