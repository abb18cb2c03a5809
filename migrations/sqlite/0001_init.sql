-- credbroker schema v1 (SQLite). Times are integer milliseconds since the epoch.
CREATE TABLE servers (
  id TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  labels TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  disabled_at INTEGER
);

CREATE TABLE server_credentials (
  id TEXT PRIMARY KEY,
  server_id TEXT NOT NULL REFERENCES servers(id),
  kind TEXT NOT NULL CHECK (kind IN ('client_secret', 'public_key')),
  secret_hash TEXT,
  public_jwk TEXT,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX server_credentials_server ON server_credentials(server_id);

CREATE TABLE operators (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);

CREATE TABLE secrets (
  path TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL DEFAULT '',
  labels TEXT NOT NULL DEFAULT '{}',
  sensitivity TEXT NOT NULL DEFAULT 'medium',
  current_version INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);

-- Local backend: one row per version, envelope-encrypted (see src/crypto/envelope.ts).
CREATE TABLE secret_versions (
  path TEXT NOT NULL,
  version INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL DEFAULT '',
  destroyed_at INTEGER,
  PRIMARY KEY (path, version)
);
CREATE INDEX secret_versions_key ON secret_versions(key_id);

CREATE TABLE leases (
  id TEXT PRIMARY KEY,
  server_id TEXT NOT NULL,
  secret_path TEXT NOT NULL,
  version INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  max_expires_at INTEGER NOT NULL,
  renewable INTEGER NOT NULL,
  revoked_at INTEGER,
  revoke_reason TEXT
);
CREATE INDEX leases_server ON leases(server_id);
CREATE INDEX leases_secret ON leases(secret_path);
CREATE INDEX leases_expiry ON leases(expires_at);

CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  public_jwk TEXT NOT NULL,
  key_id TEXT NOT NULL,
  wrapped_key BLOB NOT NULL,
  private_jwk_ciphertext BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER,
  expires_at INTEGER
);

-- Client-assertion ids seen, for RFC 7523 replay protection.
CREATE TABLE used_assertions (
  id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX used_assertions_expiry ON used_assertions(expires_at);

CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  actor_kind TEXT NOT NULL,
  action TEXT NOT NULL,
  resource TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  lease_id TEXT,
  version INTEGER,
  request_id TEXT,
  source_ip TEXT,
  -- HMAC of the broker token id (jti) or operator token: correlates calls without exposing them.
  token_ref TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_events_resource ON audit_events(resource, time);
CREATE INDEX audit_events_actor ON audit_events(actor, time);
CREATE INDEX audit_events_time ON audit_events(time);

CREATE TABLE broker_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
