-- Background jobs: one row per job name, shared by every broker on the database. A broker runs a
-- job only while it holds the row's lock (owner, locked_until: renewed while the run lasts, taken
-- over once locked_until has passed), and records the run's outcome and when the next one is due.
-- Times are milliseconds since the epoch.
CREATE TABLE job_locks (
  name TEXT PRIMARY KEY,
  owner TEXT,
  locked_until INTEGER,
  next_run_at INTEGER NOT NULL DEFAULT 0,
  last_started_at INTEGER,
  last_finished_at INTEGER,
  last_outcome TEXT CHECK (last_outcome IN ('ok', 'error', 'interrupted'))
);

-- Lease listings are pages in (issued_at, id) order, all leases or one server's or one secret's;
-- the per-server and per-secret indexes they replace were prefixes of these.
DROP INDEX leases_server;
DROP INDEX leases_secret;
CREATE INDEX leases_issued ON leases(issued_at, id);
CREATE INDEX leases_server_issued ON leases(server_id, issued_at, id);
CREATE INDEX leases_secret_issued ON leases(secret_path, issued_at, id);
-- The lease purge finds leases revoked before its cutoff (expired ones through leases_expiry).
CREATE INDEX leases_revoked ON leases(revoked_at);
