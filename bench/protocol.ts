/**
 * The messages between the bench driver (bench/hot-path.ts, which also runs autocannon) and the
 * process under load (bench/target.ts). Kept in one place so both sides agree on the shapes.
 */

/** The bench server's id, granted the bench secrets by the generated policy. */
export const BENCH_SERVER_ID = "bench-mcp";

/**
 * What the bare app answers: the same shape and size as a broker read response, so the ratio
 * compares request handling, not payload size.
 */
export const BARE_RESPONSE = {
  name: "bench/secret-1",
  value: "x".repeat(40),
  encoding: "utf8",
  version: 1,
  lease_id: "00000000-0000-4000-8000-000000000000",
  lease_ttl: 900,
  renewable: true,
  expires_at: "2030-01-01T00:00:00.000Z",
} as const;

/** What the target process runs. */
export type TargetSpec =
  | { kind: "bare" }
  /** The calibration: the hot-path list and nothing else (bench/minimal-target.ts). */
  | { kind: "minimal" }
  | {
      kind: "broker";
      /** "silent" for the measured runs; "info" writes every request line to /dev/null through pino. */
      logLevel: "silent" | "info";
      /** Secrets granted to the bench server; the batch route reads all of them. */
      secretCount: number;
    };

/** Sent once by the target when it listens and (for the broker) is fully set up. */
export interface TargetReady {
  type: "ready";
  url: string;
  pid: number;
  broker?: {
    token: string;
    clientId: string;
    clientSecret: string;
    /** PKCS#8 PEM of the Ed25519 key registered for the bench server (private_key_jwt); the full broker only. */
    assertionKeyPem?: string;
    /** Secret name → value, so the driver can check that every response carries the right value. */
    secrets: Record<string, string>;
    database: string;
  };
}

export type TargetRequest =
  | { id: number; op: "stats" }
  | { id: number; op: "audit-counts" }
  /** Starts the V8 sampling profiler in the target (node:inspector), for the measured window only. */
  | { id: number; op: "profile-start"; samplingIntervalMicros: number }
  /** Stops it and writes the .cpuprofile to `file`. */
  | { id: number; op: "profile-stop"; file: string }
  | { id: number; op: "stop" };

/** Resource use of the target process, sampled before and after a measured window. */
export interface TargetStats {
  /** process.cpuUsage(), microseconds. */
  cpuUserMicros: number;
  cpuSystemMicros: number;
  /** performance.eventLoopUtilization() raw counters, milliseconds. */
  eluIdleMs: number;
  eluActiveMs: number;
  rssBytes: number;
  /** Group-commit statistics from the broker's own metrics (absent for the bare app). */
  auditBatches?: { count: number; records: number };
  /**
   * Time the event loop spent inside Store.appendAudit (the SQL plus the commit's fsync, which
   * blocks the thread: better-sqlite3 is synchronous), measured around the store call.
   */
  auditCommitTime?: { count: number; totalMicros: number; maxMicros: number; histogram100Micros: number[] };
}

/** Committed audit records by action and outcome, read from the SQLite file after a run. */
export type AuditCounts = Record<string, number>;

export type TargetReply =
  | { id: number; op: "stats"; stats: TargetStats }
  | { id: number; op: "audit-counts"; counts: AuditCounts }
  | { id: number; op: "profile-start" }
  | { id: number; op: "profile-stop"; file: string }
  | { id: number; op: "stop" }
  | { id: number; op: "error"; message: string };

export type TargetMessage = TargetReady | TargetReply;
