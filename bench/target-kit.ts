/** What every bench target process shares: listening, closing, and the figures it reports. */
import { serve, type ServerType } from "@hono/node-server";
import Database from "better-sqlite3";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import type { AuditCounts, TargetReady, TargetStats } from "./protocol.js";

/** A started target, as bench/target.ts drives it. */
export interface Running {
  ready: TargetReady;
  stats(): Promise<TargetStats>;
  auditCounts(): AuditCounts;
  stop(): Promise<void>;
}

export async function listen(fetch: (request: Request) => Response | Promise<Response>): Promise<{ server: ServerType; url: string }> {
  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(started));
    started.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

export function closeServer(server: ServerType): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

export function processStats(): TargetStats {
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  return { cpuUserMicros: cpu.user, cpuSystemMicros: cpu.system, eluIdleMs: elu.idle, eluActiveMs: elu.active, rssBytes: process.memoryUsage.rss() };
}

/** Committed audit records by `action:outcome`, read through a separate read-only connection (WAL readers see exactly the commits). */
export function committedAuditCounts(databaseFile: string): AuditCounts {
  const db = new Database(databaseFile, { readonly: true });
  try {
    const rows = db.prepare("SELECT action, outcome, count(*) AS n FROM audit_events GROUP BY action, outcome").all() as Array<{ action: string; outcome: string; n: number }>;
    return Object.fromEntries(rows.map((row) => [`${row.action}:${row.outcome}`, row.n]));
  } finally {
    db.close();
  }
}
