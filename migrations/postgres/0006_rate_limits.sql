-- Throttling counters shared by every broker on the database: a token bucket per key (a source
-- address's request budget, the token endpoint's budget) and failure counts per key (method,
-- client id and source address) with the lockout they lead to. Times are epoch milliseconds.
CREATE TABLE rate_limit_buckets (
  key text PRIMARY KEY,
  tokens numeric NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX rate_limit_buckets_updated ON rate_limit_buckets(updated_at);

CREATE TABLE auth_failures (
  key text PRIMARY KEY,
  failures integer NOT NULL,
  window_started_at bigint NOT NULL,
  locked_until bigint NOT NULL
);
