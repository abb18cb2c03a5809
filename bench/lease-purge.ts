/**
 * `npx tsx bench/lease-purge.ts [--leases N] [--batch B] [--postgres URL]`: how long one batch of
 * the lease purge job holds the database, and what one page of a lease listing costs against the
 * whole table. See docs/benchmarks.md ("Lease purge and list pages").
 *
 * Fills a fresh store (a SQLite file in a temporary folder, or a fresh schema of the PostgreSQL
 * database at --postgres) with N leases that ended long ago plus N/10 active ones, then times:
 * every purge batch of B (median, p99, max: each batch is one write statement that other writers
 * wait for), and a first page of 100 of `?all=true` against reading every lease at once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import pg from "pg";
import type { Lease } from "../src/domain.js";
import { openPostgresStore } from "../src/store/postgres.js";
import { openSqliteStore } from "../src/store/sqlite.js";
import type { Store } from "../src/store/store.js";

const { values } = parseArgs({ options: { leases: { type: "string", default: "100000" }, batch: { type: "string", default: "500" }, postgres: { type: "string" } } });
const total = Number(values.leases);
const batch = Number(values.batch);
const NOW = Date.UTC(2026, 0, 31);
const DAY = 86_400_000;

function lease(i: number, ended: boolean): Lease {
  const issuedAt = ended ? NOW - 30 * DAY + i : NOW - 60_000 + (i % 60_000);
  return {
    id: `${ended ? "old" : "live"}-${i}`,
    serverId: `server-${i % 50}`,
    secretPath: `app/secret-${i % 200}`,
    version: 1,
    issuedAt,
    expiresAt: ended ? issuedAt + 15 * 60_000 : NOW + 15 * 60_000,
    maxExpiresAt: issuedAt + DAY,
    renewable: true,
    revokedAt: ended && i % 3 === 0 ? issuedAt + 60_000 : null,
    revokeReason: ended && i % 3 === 0 ? "bench" : null,
    externalLeaseId: null,
  };
}

async function open(): Promise<{ store: Store; label: string; cleanup(): Promise<void> }> {
  if (values.postgres) {
    const schema = `bench_purge_${process.pid}`;
    const admin = new pg.Client({ connectionString: values.postgres });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const url = new URL(values.postgres);
    url.searchParams.set("options", `-c search_path=${schema}`);
    const store = await openPostgresStore({ url: url.toString() });
    return {
      store,
      label: "postgres",
      async cleanup() {
        await store.close();
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "credbroker-bench-purge-"));
  const store = openSqliteStore({ file: join(dir, "broker.db") });
  return {
    store,
    label: "sqlite",
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

const { store, label, cleanup } = await open();
try {
  // Inserted with their audit-free path, 1000 rows a statement (appendAudit with no entries).
  const rows = [...Array.from({ length: total }, (_, i) => lease(i, true)), ...Array.from({ length: Math.floor(total / 10) }, (_, i) => lease(i, false))];
  for (let start = 0; start < rows.length; start += 5000) await store.appendAudit([], rows.slice(start, start + 5000));

  let began = performance.now();
  const everything = await store.listLeases({});
  const unboundedMs = performance.now() - began;
  began = performance.now();
  const firstPage = await store.listLeases({}, { limit: 101 });
  const pageMs = performance.now() - began;

  const batches: number[] = [];
  let purged = 0;
  for (;;) {
    const start = performance.now();
    const deleted = await store.purgeEndedLeases(NOW - 7 * DAY, batch);
    batches.push(performance.now() - start);
    purged += deleted;
    if (deleted < batch) break;
  }
  const sorted = [...batches].sort((a, b) => a - b);
  const left = (await store.listLeases({})).length;
  console.log(
    JSON.stringify(
      {
        store: label,
        leases: rows.length,
        list_all: { rows: everything.length, ms: Math.round(unboundedMs) },
        list_page_of_100: { rows: firstPage.length - 1, ms: Number(pageMs.toFixed(2)) },
        purge: { batch, batches: batches.length, purged, left, median_ms: Number(quantile(sorted, 0.5).toFixed(2)), p99_ms: Number(quantile(sorted, 0.99).toFixed(2)), max_ms: Number(sorted.at(-1)!.toFixed(2)) },
      },
      null,
      2,
    ),
  );
} finally {
  await cleanup();
}
