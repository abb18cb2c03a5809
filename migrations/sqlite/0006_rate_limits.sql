-- Throttling counters shared by every broker on the database: a token bucket per key (a source
-- address's request budget, the token endpoint's budget) and failure counts per key (method,
-- client id and source address) with the lockout they lead to. Times are epoch milliseconds.
-- A SQLite broker is alone on its data directory and keeps these counts in memory: the tables
-- exist so that both dialects have one schema.
CREATE TABLE rate_limit_buckets (
  key TEXT PRIMARY KEY,
  tokens NUMERIC NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX rate_limit_buckets_updated ON rate_limit_buckets(updated_at);

CREATE TABLE auth_failures (
  key TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  window_started_at INTEGER NOT NULL,
  locked_until INTEGER NOT NULL
);
