/**
 * The SQLite database holds ciphertext, wrapped keys and the audit trail: its files are the
 * broker's alone (0600, WAL and shared-memory files included) and a folder it creates is 0700,
 * whatever the process umask would have given.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/store/sqlite.js";

const mode = (path: string) => statSync(path).mode & 0o777;

describe("SQLite store files", () => {
  let dir: string;
  let umask: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-files-"));
    umask = process.umask(0o022);
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates the database, its WAL and shm files 0600 in a 0700 folder", async () => {
    const file = join(dir, "data", "broker.db");
    const store = openSqliteStore({ file });
    try {
      await store.setMeta("probe", "1");
      expect(mode(join(dir, "data"))).toBe(0o700);
      for (const path of [file, `${file}-wal`, `${file}-shm`]) expect([path, mode(path)]).toEqual([path, 0o600]);
    } finally {
      await store.close();
    }
  });

  it("makes an existing database file private again", async () => {
    const file = join(dir, "old.db");
    writeFileSync(file, "");
    chmodSync(file, 0o644);
    const store = openSqliteStore({ file });
    try {
      await store.setMeta("probe", "1");
      expect(mode(file)).toBe(0o600);
      expect(mode(`${file}-wal`)).toBe(0o600);
    } finally {
      await store.close();
    }
  });
});
