/**
 * The audit trail's integrity from the operator's side, on real `credbroker dev` processes:
 * checkpoints written every N records and at a clean shutdown (SIGTERM), `audit verify
 * --checkpoints --public-key` catching a truncated tail and a forged checkpoint, a start behind
 * the last checkpoint refused unless `--accept-audit-rollback` (recorded), and `audit archive`
 * exporting a segment that verifies offline while the kept chain still verifies.
 */
import Database from "better-sqlite3";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli, startCli, stop } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";

interface Checkpoint {
  seq: number;
  hash: string;
  time: string;
  key_id: string;
  signature: string;
}

describe("credbroker audit checkpoints, verify and archive", () => {
  let dir: string;
  let dataDir: string;
  let checkpointFile: string;
  let configFile: string;
  let running: { child: import("node:child_process").ChildProcess; stderr: () => string } | undefined;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-audit-integrity-"));
    dataDir = join(dir, "data");
    checkpointFile = join(dataDir, "audit-checkpoints.jsonl");
    mkdirSync(join(dir, "policies"));
    writeFileSync(join(dir, "policies", "servers.yaml"), "servers: {}\n");
    configFile = join(dir, "extra.yaml");
    writeFileSync(configFile, "audit:\n  checkpoint_every: 4\n");
  });
  afterEach(async () => {
    if (running) await stop(running.child);
    running = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function startDev(...extra: string[]): Promise<void> {
    const started = await startCli(["dev", "--json", "--port", "0", "--data-dir", dataDir, "--policies", join(dir, "policies"), "--config", configFile, ...extra], { cwd: dir });
    const ready = JSON.parse(started.firstLine) as { url: string; admin_token: string };
    running = started;
    env = { CREDBROKER_URL: ready.url, CREDBROKER_TOKEN: ready.admin_token };
  }
  async function stopDev(): Promise<number | null> {
    const code = await stop(running!.child);
    running = undefined;
    return code;
  }
  const checkpoints = (): Checkpoint[] => {
    try {
      return readFileSync(checkpointFile, "utf8").trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Checkpoint);
    } catch {
      return [];
    }
  };
  const withDatabase = <T>(work: (db: Database.Database) => T): T => {
    const db = new Database(join(dataDir, "credbroker.db"));
    try {
      db.pragma("busy_timeout = 5000");
      return work(db);
    } finally {
      db.close();
    }
  };
  const headSeq = () => withDatabase((db) => (db.prepare("SELECT max(seq) AS seq FROM audit_events").get() as { seq: number }).seq);
  const addServers = async (...ids: string[]) => {
    for (const id of ids) expect((await runCli(["server", "add", id, "--json"], { env })).code).toBe(0);
  };
  const publicKeyFile = async () => {
    const file = join(dir, "checkpoint.pub.pem");
    const key = await runCli(["audit", "checkpoint-key"], { env });
    expect(key.code).toBe(0);
    writeFileSync(file, key.stdout);
    return file;
  };

  it("signs a checkpoint every N records and at a clean shutdown (SIGTERM), each covering the head then", async () => {
    await startDev();
    await addServers("one-mcp", "two-mcp", "three-mcp", "four-mcp");
    const during = await waitFor("a checkpoint after 4 records", () => (checkpoints().length > 0 ? checkpoints() : undefined));
    expect(during[0]).toMatchObject({ seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/), key_id: expect.any(String) });
    const pub = await publicKeyFile();
    await addServers("five-mcp");
    expect(await stopDev()).toBe(0);
    const after = checkpoints();
    // The shutdown checkpoint is the last record written: it signs the head.
    const last = after.at(-1)!;
    expect(last.seq).toBe(headSeq());
    expect(withDatabase((db) => db.prepare("SELECT action, reason, hash FROM audit_events WHERE seq = ?").get(last.seq))).toEqual({ action: "audit.checkpoint", reason: "shutdown", hash: last.hash });
    // And every checkpoint verifies with the exported public key.
    await startDev();
    const verdict = await runCli(["audit", "verify", "--checkpoints", checkpointFile, "--public-key", pub, "--json"], { env });
    expect(verdict.code).toBe(0);
    expect(JSON.parse(verdict.stdout)).toMatchObject({ ok: true, checkpoints: { checked: after.length } });
  });

  it("audit verify --checkpoints catches a truncated tail and a forged checkpoint, with exit 1 and a reason", async () => {
    await startDev();
    await addServers("one-mcp", "two-mcp", "three-mcp", "four-mcp");
    await waitFor("a checkpoint", () => checkpoints().length > 0);
    const pub = await publicKeyFile();
    const copy = join(dir, "copied-checkpoints.jsonl");
    writeFileSync(copy, readFileSync(checkpointFile));
    const newest = checkpoints().at(-1)!;
    withDatabase((db) => db.prepare("DELETE FROM audit_events WHERE seq >= ?").run(newest.seq - 1));
    const truncated = await runCli(["audit", "verify", "--checkpoints", copy, "--json"], { env });
    expect(truncated.code).toBe(1);
    expect(JSON.parse(truncated.stdout).problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "head_behind_checkpoint" })]));

    const forged = join(dir, "forged.jsonl");
    writeFileSync(forged, `${JSON.stringify({ ...newest, seq: 1, hash: "a".repeat(64) })}\n`);
    const human = await runCli(["audit", "verify", "--checkpoints", forged, "--public-key", pub], { env });
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/TAMPERED/);
    expect(human.stdout).toMatch(/not signed by/);
  });

  it("refuses to start behind its last checkpoint; --accept-audit-rollback starts and records why", async () => {
    await startDev();
    await addServers("one-mcp", "two-mcp");
    expect(await stopDev()).toBe(0);
    const head = headSeq();
    withDatabase((db) => db.prepare("DELETE FROM audit_events WHERE seq > ?").run(head - 2));
    const refused = await runCli(["dev", "--json", "--port", "0", "--data-dir", dataDir, "--policies", join(dir, "policies"), "--config", configFile], { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to start: the audit log ends at seq \d+ but the checkpoint of .* signed seq \d+/);
    expect(refused.stderr).toMatch(/--accept-audit-rollback/);

    await startDev("--accept-audit-rollback");
    const accepted = await runCli(["audit", "query", "--action", "audit.rollback_accepted", "--json"], { env });
    expect(JSON.parse(accepted.stdout)).toEqual([expect.objectContaining({ action: "audit.rollback_accepted", actor: "system" })]);
    // The accepted start was checkpointed: the next start is clean.
    expect(await stopDev()).toBe(0);
    await startDev();
  });

  it("audit archive exports a segment that verifies offline, removes it, and the kept chain still verifies", async () => {
    await startDev();
    await addServers("one-mcp", "two-mcp", "three-mcp");
    const pub = await publicKeyFile();
    const segment = join(dir, "segment.jsonl");
    const archived = await runCli(["audit", "archive", "--before", new Date(Date.now() + 60_000).toISOString(), "--out", segment, "--json"], { env });
    expect(archived.code, archived.stderr).toBe(0);
    const summary = JSON.parse(archived.stdout) as { first_seq: number; last_seq: number; archived: number };
    expect(summary).toMatchObject({ first_seq: 1, archived: summary.last_seq });
    expect(withDatabase((db) => (db.prepare("SELECT min(seq) AS seq FROM audit_events").get() as { seq: number }).seq)).toBe(summary.last_seq + 1);
    expect(withDatabase((db) => db.prepare("SELECT action FROM audit_events WHERE action = 'audit.archive'").all())).toHaveLength(1);

    const kept = await runCli(["audit", "verify", "--json"], { env });
    expect(kept.code, kept.stdout).toBe(0);
    expect((await runCli(["audit", "verify", "--segment", segment, "--public-key", pub], { env })).code).toBe(0);

    // One record of the segment altered: the offline check fails.
    const lines = readFileSync(segment, "utf8").split("\n");
    lines[0] = lines[0]!.replace('"outcome":"allowed"', '"outcome":"denied"');
    const altered = join(dir, "altered.jsonl");
    writeFileSync(altered, lines.join("\n"));
    const alteredVerdict = await runCli(["audit", "verify", "--segment", altered, "--public-key", pub, "--json"], { env });
    expect(alteredVerdict.code).toBe(1);
    expect(JSON.parse(alteredVerdict.stdout).problems.join(" ")).toMatch(/not the ones the trailer signed/);

    // Deleting the first kept record as if it had been archived too: the anchor gives it away.
    withDatabase((db) => db.prepare("DELETE FROM audit_events WHERE seq = ?").run(summary.last_seq + 1));
    const gap = await runCli(["audit", "verify", "--json"], { env });
    expect(gap.code).toBe(1);
    expect(JSON.parse(gap.stdout).problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "sequence_gap" })]));
  });
});
