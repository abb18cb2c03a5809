/**
 * Three broker processes on one PostgreSQL database, behind the SDK's list of URLs, as
 * docs/deployment.md describes. Several SDK clients read and renew under load while one broker
 * is killed with SIGKILL. What must hold: no client sees an error (the SDK's retry budget covers
 * the failover), every lease a client was handed has exactly one `secret.read` record, the audit
 * trail has no gap and no duplicate, `audit verify` passes against the signed checkpoints every
 * broker wrote to its own file (the killed one's included), and the killed broker rejoins.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BrokerClient, type SecretSet } from "../../src/sdk/index.js";
import { testSecret } from "../helpers/broker.js";
import { ROOT, runCli } from "../helpers/cli.js";
import { LOG_DIR } from "../helpers/log-capture.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";

const POLICY = `
servers:
  load-mcp:
    allow:
      - secrets: ["load/**"]
        actions: [read]
`;
const PUBLIC_URL = "https://credbroker.internal";
const CLIENTS = 6;

interface BrokerProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  log: () => string;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
}

/** Starts `credbroker serve` on `port` and resolves once it logs that it is listening. */
function serve(config: string, port: number, checkpointFile: string): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [resolve(ROOT, "dist/cli/bin.js"), "serve", "--config", config], {
    cwd: ROOT,
    env: {
      ...process.env,
      CREDBROKER_LISTEN: `127.0.0.1:${port}`,
      CREDBROKER_AUDIT__CHECKPOINT_EVERY: "10",
      CREDBROKER_AUDIT__CHECKPOINT_INTERVAL: "1s",
      CREDBROKER_AUDIT__CHECKPOINT_SINKS: JSON.stringify([{ type: "file", checkpoint_file: checkpointFile }]),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  return new Promise((ready, fail) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString("utf8");
      if (log.includes('"credbroker listening"')) ready({ url: `http://127.0.0.1:${port}`, child, exited, log: () => log });
    });
    void exited.then((code) => fail(new Error(`serve on ${port} exited ${code}: ${log}`)));
  });
}

interface AuditEvent {
  seq: number;
  action: string;
  outcome: string;
  lease_id: string | null;
  hash: string;
}

describePostgres("three brokers on one PostgreSQL, one killed under load", () => {
  let schema: TestSchema;
  let dir: string;
  let config: string;
  let adminToken: string;
  const brokers: BrokerProcess[] = [];
  const ports: number[] = [];
  const started: BrokerProcess[] = [];
  const checkpointFile = (index: number) => join(dir, `checkpoints-${index}.jsonl`);

  async function admin<T>(broker: BrokerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${broker.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined && { "content-type": "application/json" }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  beforeAll(async () => {
    schema = await createTestSchema("three");
    dir = mkdtempSync(join(tmpdir(), "credbroker-three-"));
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "policies", "load.yaml"), POLICY);
    config = join(dir, "credbroker.yaml");
    writeFileSync(
      config,
      [`listen: 127.0.0.1:0`, `database: ${JSON.stringify(schema.url)}`, "policies: policies", "master_key_file: master.key", `public_url: ${PUBLIC_URL}`, "lease: {default_ttl: 6s, max_ttl: 1h}", ""].join("\n"),
    );
    const init = await runCli(["init", "--config", config, "--json"]);
    expect(init.code, init.stderr).toBe(0);
    adminToken = (JSON.parse(init.stdout) as { admin_token: string }).admin_token;
    for (let index = 0; index < 3; index += 1) ports.push(await freePort());
    brokers.push(...(await Promise.all(ports.map((port, index) => serve(config, port, checkpointFile(index))))));
    started.push(...brokers);
  }, 60_000);

  afterAll(async () => {
    for (const broker of brokers) {
      if (broker.child.exitCode === null && broker.child.signalCode === null) {
        broker.child.kill("SIGTERM");
        await broker.exited;
      }
    }
    // The suite's teardown scans test/.logs/ for leaked secrets: these brokers' logs belong there too.
    mkdirSync(LOG_DIR, { recursive: true });
    started.forEach((broker, index) => writeFileSync(join(LOG_DIR, `three-brokers-${process.pid}-${index}.log`), broker.log()));
    await schema?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves every client through the kill, with one audit record per lease handed out and a chain that verifies", async () => {
    const [first, second] = brokers as [BrokerProcess, BrokerProcess, BrokerProcess];
    const registered = await admin<{ client_secret: string }>(first, "POST", "/v1/admin/servers", { id: "load-mcp" });
    expect(registered.status).toBe(201);
    const values = { a: testSecret("three-a"), b: testSecret("three-b") };
    for (const [name, value] of Object.entries(values)) {
      const put = await admin(second, "POST", "/v1/admin/secrets", { path: `load/${name}`, value });
      expect(put.status).toBe(201);
    }

    const urls = brokers.map((broker) => broker.url);
    // Client i prefers broker i % 3, so the killed broker was the first choice of a third of them.
    const clients = Array.from({ length: CLIENTS }, (_, index) =>
      new BrokerClient({
        urls: [...urls.slice(index % 3), ...urls.slice(0, index % 3)],
        clientId: "load-mcp",
        clientSecret: registered.body.client_secret,
        audience: `${PUBLIC_URL}/v1/auth/token`,
        retry: { attempts: 6, baseDelayMs: 100, maxDelayMs: 1000 },
        timeoutMs: 5000,
      }),
    );
    const errors: string[] = [];
    const handedOut = new Set<string>();
    const held: Array<SecretSet<"A" | "B">> = [];
    for (const client of clients) {
      const set = await client.load({ A: "load/a", B: "load/b" });
      set.on("error", (error) => errors.push(`held set: ${error.code}: ${error.message}`));
      held.push(set);
      handedOut.add(set.info("A").leaseId).add(set.info("B").leaseId);
    }
    // Every lease each held set serves during the run (sampled), for the renewal check below.
    const heldLeases = held.map((set) => new Set([set.info("A").leaseId]));
    const sampler = setInterval(() => held.forEach((set, index) => heldLeases[index]!.add(set.info("A").leaseId)), 50);

    let stop = false;
    let reads = 0;
    const readers = clients.map(async (client) => {
      while (!stop) {
        try {
          const set = await client.load({ A: "load/a" });
          expect(set.get("A")).toBe(values.a);
          handedOut.add(set.info("A").leaseId);
          reads += 1;
          await set.close();
        } catch (error) {
          errors.push(`read: ${(error as Error).message}`);
        }
      }
    });

    const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
    await sleep(1500);
    const readsBeforeKill = reads;
    const seqAtKill = (await admin<{ events: AuditEvent[] }>(brokers[1]!, "GET", "/v1/audit/events?order=desc&limit=1")).body.events[0]!.seq;
    brokers[0]!.child.kill("SIGKILL");
    expect(await brokers[0]!.exited).toBeNull();
    // Long enough for the held sets (6 s leases, renewed at 2/3 of that) to renew twice after the kill.
    await sleep(9000);
    stop = true;
    await Promise.all(readers);
    clearInterval(sampler);

    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(readsBeforeKill);
    held.forEach((set, index) => {
      expect(set.get("A")).toBe(values.a);
      expect(set.info("A").state).toBe("valid");
      expect(set.info("A").expiresAt.getTime()).toBeGreaterThan(Date.now());
      heldLeases[index]!.add(set.info("A").leaseId);
      handedOut.add(set.info("A").leaseId).add(set.info("B").leaseId);
    });

    const survivor = brokers[1]!;
    const events: AuditEvent[] = [];
    for (let cursor: string | null = null; ; ) {
      const query: string = `/v1/audit/events?limit=1000&order=asc${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = await admin<{ events: AuditEvent[]; next_cursor: string | null }>(survivor, "GET", query);
      expect(page.status).toBe(200);
      events.push(...page.body.events);
      if (page.body.next_cursor === null || page.body.events.length === 0) break;
      cursor = page.body.next_cursor;
    }
    // No gap and no duplicate: seq runs 1..N exactly once each.
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: events.length }, (_, index) => index + 1));
    const readsByLease = new Map<string, number>();
    for (const event of events) {
      if (event.action === "secret.read" && event.outcome === "allowed" && event.lease_id !== null) {
        readsByLease.set(event.lease_id, (readsByLease.get(event.lease_id) ?? 0) + 1);
      }
    }
    const withoutRecord = [...handedOut].filter((leaseId) => readsByLease.get(leaseId) !== 1);
    expect(withoutRecord).toEqual([]);
    // The held leases were renewed after the kill, through the brokers that were left.
    // (A client whose event stream was on the killed broker fetches everything again once its
    // stream is back elsewhere, since it may have missed events; so a held set may change lease.)
    const renewedAfterKill = held.filter((_, index) =>
      events.some((event) => event.action === "lease.renew" && event.outcome === "allowed" && event.seq > seqAtKill && heldLeases[index]!.has(event.lease_id ?? "")),
    );
    expect(renewedAfterKill).toHaveLength(held.length);

    const verified = await runCli(["audit", "verify", "--json", ...[0, 1, 2].flatMap((index) => ["--checkpoints", checkpointFile(index)])], {
      env: { CREDBROKER_URL: survivor.url, CREDBROKER_TOKEN: adminToken },
    });
    expect(verified.code, verified.stderr).toBe(0);
    const verification = JSON.parse(verified.stdout) as { ok: boolean; checkpoints: { checked: number } };
    expect(verification.ok).toBe(true);
    // Every broker wrote checkpoints, the killed one before it died.
    expect(verification.checkpoints.checked).toBeGreaterThanOrEqual(3);

    // The killed broker comes back on the same database, past its own newest checkpoint, and serves at once.
    brokers[0] = await serve(config, ports[0]!, checkpointFile(0));
    started.push(brokers[0]);
    const back = await admin<{ servers: unknown[] }>(brokers[0], "GET", "/v1/admin/servers");
    expect(back.status).toBe(200);

    await Promise.all(clients.map((client) => client.close()));
  }, 60_000);
});
