/**
 * The switch from plain SHA-256 to the keyed chain: records written before the switch still
 * verify, every record after it must carry the keyed hash, and the switch point (and the archive
 * anchor) cannot be moved without the key. A store without the key writes nothing.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ChainKey, GENESIS_HASH, plainChainHash } from "../../src/audit/chain.js";
import { anchorMeta, establishChainFormat, readChainFormat } from "../../src/audit/chain-format.js";
import { CheckpointSigner } from "../../src/audit/checkpoint.js";
import { verifyChain } from "../../src/audit/verify.js";
import type { ChainFormat } from "../../src/audit/chain-format.js";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite.js";
import { entry } from "../store/store.contract.js";

const COLUMNS = "seq, time, actor, actor_kind, action, resource, outcome, reason, lease_id, version, request_id, source_ip, token_ref, prev_hash, hash";

describe("the audit chain format", () => {
  let dir: string;
  let store: SqliteStore;
  const key = ChainKey.derive(randomBytes(32));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-chain-format-"));
    store = openSqliteStore({ file: join(dir, "broker.db") });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Records as a broker before the keyed chain wrote them: plain SHA-256. */
  function writeLegacy(count: number): void {
    let prev = GENESIS_HASH;
    const insert = store.raw.prepare(`INSERT INTO audit_events (${COLUMNS}) VALUES (${COLUMNS.split(", ").map(() => "?").join(", ")})`);
    for (let seq = 1; seq <= count; seq += 1) {
      const e = entry({ requestId: `legacy-${seq}` });
      const hash = plainChainHash(prev, seq, e);
      insert.run(seq, e.time, e.actor, e.actorKind, e.action, e.resource, e.outcome, e.reason, e.leaseId, e.version, e.requestId, e.sourceIp, e.tokenRef, prev, hash);
      prev = hash;
    }
  }
  const format = async (): Promise<ChainFormat | { problem: string }> => {
    const reading = await readChainFormat(store, key);
    return reading.ok ? reading.format : { problem: reading.message };
  };

  it("refuses every append until the store has the chain key, on the committer thread too", async () => {
    const inline = openSqliteStore({ file: join(dir, "inline.db"), offThreadCommits: false });
    try {
      for (const unkeyed of [store, inline]) await expect(unkeyed.appendAudit([entry()])).rejects.toMatchObject({ code: "audit_unavailable" });
      expect(await store.queryAudit({ limit: 10 })).toEqual([]);
    } finally {
      await inline.close();
    }
  });

  it("keeps SHA-256 records verifiable and keys every record after the switch", async () => {
    writeLegacy(3);
    store.useAuditChainKey(key);
    expect(await establishChainFormat(store, key)).toMatchObject({ keyedFromSeq: 4 });
    await store.appendAudit([entry({ requestId: "keyed-4" }), entry({ requestId: "keyed-5" })]);
    expect(await verifyChain(store.auditPages(2), await format())).toMatchObject({ ok: true, checked: 5 });
    // A second start finds the marker and keeps it.
    expect(await establishChainFormat(store, key)).toMatchObject({ keyedFromSeq: 4 });
  });

  it("detects a record after the switch rewritten with plain SHA-256", async () => {
    writeLegacy(2);
    store.useAuditChainKey(key);
    await establishChainFormat(store, key);
    const [record] = await store.appendAudit([entry({ requestId: "keyed-3" })]);
    const forged = { ...record!, reason: "rewritten" };
    store.raw.prepare("UPDATE audit_events SET reason = ?, hash = ? WHERE seq = 3").run(forged.reason, plainChainHash(record!.prevHash, 3, forged));
    const verdict = await verifyChain(store.auditPages(10), await format());
    expect(verdict.problems).toEqual([expect.objectContaining({ seq: 3, kind: "hash_mismatch" })]);
  });

  it("detects the switch point moved, or removed, in the database", async () => {
    writeLegacy(2);
    store.useAuditChainKey(key);
    await establishChainFormat(store, key);
    await store.appendAudit([entry()]);
    const stored = JSON.parse((await store.getMeta("audit_chain_format"))!) as { keyed_from: number; mac: string };
    await store.setMeta("audit_chain_format", JSON.stringify({ ...stored, keyed_from: 10 }));
    expect(await verifyChain(store.auditPages(10), await format())).toMatchObject({ ok: false, problems: [expect.objectContaining({ kind: "format_marker" })] });
    store.raw.prepare("DELETE FROM broker_meta WHERE key = 'audit_chain_format'").run();
    expect(await verifyChain(store.auditPages(10), await format())).toMatchObject({ ok: false, problems: [expect.objectContaining({ kind: "format_marker" })] });
    await expect(establishChainFormat({ ...store, getMeta: async () => JSON.stringify({ keyed_from: 1, mac: "0".repeat(64) }), setMetaIfAbsent: async () => false, queryAudit: async () => [] }, key)).rejects.toMatchObject({ code: "audit_tampered" });
  });

  it("verifies a chain kept after an archive from its anchor, and catches a forged anchor", async () => {
    store.useAuditChainKey(key);
    await establishChainFormat(store, key);
    const records = await store.appendAudit([entry(), entry(), entry(), entry()]);
    const anchor = { seq: 2, hash: records[1]!.hash };
    expect(await store.archiveAudit(2, anchorMeta(key, anchor))).toBe(2);
    expect(await verifyChain(store.auditPages(10), await format())).toMatchObject({ ok: true, checked: 2 });
    // An attacker moving the anchor forward to hide record 3 needs the key.
    await store.archiveAudit(3, anchorMeta(ChainKey.derive(randomBytes(32)), { seq: 3, hash: records[2]!.hash }));
    expect(await verifyChain(store.auditPages(10), await format())).toMatchObject({ ok: false, problems: [expect.objectContaining({ kind: "format_marker" })] });
  });

  it("reports checkpoints that are forged, that disagree with their record, or that are ahead of the head", async () => {
    store.useAuditChainKey(key);
    await establishChainFormat(store, key);
    const records = await store.appendAudit([entry(), entry(), entry()]);
    const signer = new CheckpointSigner(randomBytes(32));
    const publicKeys = new Map([[signer.keyId, signer.publicKey]]);
    const good = signer.sign({ seq: 2, hash: records[1]!.hash }, 0);
    const wrongHash = signer.sign({ seq: 3, hash: records[1]!.hash }, 0);
    const ahead = signer.sign({ seq: 9, hash: records[2]!.hash }, 0);
    const forged = { ...good, seq: 1 };
    const verdict = await verifyChain(store.auditPages(10), await format(), { checkpoints: [good, wrongHash, ahead, forged], publicKeys });
    expect(verdict.problems.map((problem) => [problem.seq, problem.kind])).toEqual([
      [1, "checkpoint_signature"],
      [3, "checkpoint_mismatch"],
      [3, "head_behind_checkpoint"],
    ]);
    expect(verdict.checkpoints).toMatchObject({ checked: 2, newest: { seq: 9 } });
  });
});
