/** The store contract against SQLite: a fresh database file per test, opened as `credbroker dev` opens it (WAL, foreign keys). */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chainHash, GENESIS_HASH } from "../../src/audit/chain.js";
import { verifyChain } from "../../src/audit/verify.js";
import { KEYED_FROM_START, TEST_CHAIN_KEY } from "../helpers/chain-key.js";
import type { AuditRecord } from "../../src/domain.js";
import { openSqliteStore } from "../../src/store/sqlite.js";
import { openTempStore } from "../helpers/temp-store.js";
import { describeStoreContract, entry } from "./store.contract.js";

describeStoreContract(
  "sqlite",
  async () => {
    const { store, close } = openTempStore("store");
    return {
      store,
      cleanup: close,
      async breakStorage() {
        store.raw.exec("PRAGMA foreign_keys = OFF; DROP TABLE servers;");
      },
    };
  }
);

// Tools (init, migrate) commit on the calling thread: the same contract holds there.
describeStoreContract("sqlite, commits on the calling thread", async () => {
  const dir = mkdtempSync(join(tmpdir(), "credbroker-store-inline-"));
  const store = openSqliteStore({ file: join(dir, "broker.db"), offThreadCommits: false });
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
    async breakStorage() {
      store.raw.exec("PRAGMA foreign_keys = OFF; DROP TABLE servers;");
    },
  };
});

describe("sqlite store: the audit committer thread", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-committer-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("hashes exactly as audit/chain.ts chainHash does, for awkward text and null fields", async () => {
    const store = openSqliteStore({ file: join(dir, "broker.db") });
    store.useAuditChainKey(TEST_CHAIN_KEY);
    try {
      const awkward = [
        entry({ resource: 'quote" back\\slash \u2028 line', reason: "émoji 🔑 中文", requestId: null, sourceIp: null, tokenRef: null }),
        entry({ leaseId: "lease_x", version: null, actor: "a\u0001b", time: 1 }),
        entry({ outcome: "denied", reason: "" }),
      ];
      const records = await store.appendAudit(awkward);
      let prevHash = GENESIS_HASH;
      records.forEach((record, index) => {
        expect(record.seq).toBe(index + 1);
        expect(record.prevHash).toBe(prevHash);
        expect(record.hash).toBe(chainHash(TEST_CHAIN_KEY, prevHash, record.seq, awkward[index]!));
        prevHash = record.hash;
      });
      const stored: AuditRecord[] = [];
      for await (const page of store.auditPages(10)) stored.push(...page);
      expect(stored).toEqual(records);
    } finally {
      await store.close();
    }
  });

  it("runs from the compiled output too (dist/, as the broker ships), chaining as the sources do", async () => {
    const file = join(dir, "broker.db");
    // The suite's global setup compiled dist/ from these sources.
    const compiled = resolve(import.meta.dirname, "../../dist/store/sqlite.js");
    const script = `
      const { openSqliteStore } = await import(${JSON.stringify(compiled)});
      const { ChainKey } = await import(${JSON.stringify(resolve(import.meta.dirname, "../../dist/audit/chain.js"))});
      const store = openSqliteStore({ file: ${JSON.stringify(file)} });
      store.useAuditChainKey(ChainKey.of(new Uint8Array(32).fill(7)));
      await store.appendAudit(${JSON.stringify([entry({ requestId: "from-dist-1" }), entry({ requestId: "from-dist-2" })])});
      await store.close();`;
    const scriptFile = join(dir, "append.mjs");
    writeFileSync(scriptFile, script);
    execFileSync(process.execPath, [scriptFile], { stdio: "pipe" });
    const store = openSqliteStore({ file, offThreadCommits: false });
    try {
      const result = await verifyChain(store.auditPages(10), KEYED_FROM_START);
      expect(result).toMatchObject({ ok: true, checked: 2, problems: [] });
      expect((await store.queryAudit({ limit: 10 })).map((record) => record.requestId)).toEqual(["from-dist-1", "from-dist-2"]);
    } finally {
      await store.close();
    }
  });

  it("chains onto records another connection appended to the same file meanwhile", async () => {
    const file = join(dir, "broker.db");
    const broker = openSqliteStore({ file });
    const tool = openSqliteStore({ file, offThreadCommits: false });
    broker.useAuditChainKey(TEST_CHAIN_KEY);
    tool.useAuditChainKey(TEST_CHAIN_KEY);
    try {
      await broker.appendAudit([entry({ requestId: "broker-1" }), entry({ requestId: "broker-2" })]);
      await tool.appendAudit([entry({ requestId: "tool-1", actorKind: "system", actor: "system" })]);
      const later = await broker.appendAudit([entry({ requestId: "broker-3" })]);
      expect(later.map((record) => record.seq)).toEqual([4]);
      const result = await verifyChain(broker.auditPages(10), KEYED_FROM_START);
      expect(result).toMatchObject({ ok: true, checked: 4, problems: [] });
    } finally {
      await tool.close();
      await broker.close();
    }
  });
});
