-- credbroker schema v1 (PostgreSQL). Same tables and columns as migrations/sqlite/0001_init.sql,
-- with native types: times are bigint milliseconds since the epoch, blobs are bytea.
CREATE TABLE servers (
  id text PRIMARY KEY,
  description text NOT NULL DEFAULT '',
  labels text NOT NULL DEFAULT '{}',
  created_at bigint NOT NULL,
  disabled_at bigint
);

CREATE TABLE server_credentials (
  id text PRIMARY KEY,
  server_id text NOT NULL REFERENCES servers(id),
  kind text NOT NULL CHECK (kind IN ('client_secret', 'public_key')),
  secret_hash text,
  public_jwk text,
  created_at bigint NOT NULL,
  revoked_at bigint
);
CREATE INDEX server_credentials_server ON server_credentials(server_id);

CREATE TABLE operators (
  name text PRIMARY KEY,
  role text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL,
  revoked_at bigint
);

CREATE TABLE secrets (
  path text PRIMARY KEY,
  description text NOT NULL DEFAULT '',
  owner text NOT NULL DEFAULT '',
  labels text NOT NULL DEFAULT '{}',
  sensitivity text NOT NULL DEFAULT 'medium',
  current_version integer NOT NULL DEFAULT 0,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  deleted_at bigint
);

CREATE TABLE secret_versions (
  path text NOT NULL,
  version integer NOT NULL,
  key_id text NOT NULL,
  wrapped_key bytea NOT NULL,
  ciphertext bytea NOT NULL,
  created_at bigint NOT NULL,
  created_by text NOT NULL DEFAULT '',
  destroyed_at bigint,
  PRIMARY KEY (path, version)
);
CREATE INDEX secret_versions_key ON secret_versions(key_id);

CREATE TABLE leases (
  id text PRIMARY KEY,
  server_id text NOT NULL,
  secret_path text NOT NULL,
  version integer NOT NULL,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  max_expires_at bigint NOT NULL,
  renewable boolean NOT NULL,
  revoked_at bigint,
  revoke_reason text
);
CREATE INDEX leases_server ON leases(server_id);
CREATE INDEX leases_secret ON leases(secret_path);
CREATE INDEX leases_expiry ON leases(expires_at);

CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  public_jwk text NOT NULL,
  key_id text NOT NULL,
  wrapped_key bytea NOT NULL,
  private_jwk_ciphertext bytea NOT NULL,
  created_at bigint NOT NULL,
  retired_at bigint,
  expires_at bigint
);

CREATE TABLE used_assertions (
  id text PRIMARY KEY,
  expires_at bigint NOT NULL
);
CREATE INDEX used_assertions_expiry ON used_assertions(expires_at);

-- Appends take an advisory lock so that brokers sharing the database extend one chain in order.
CREATE TABLE audit_events (
  seq bigint PRIMARY KEY,
  time bigint NOT NULL,
  actor text NOT NULL,
  actor_kind text NOT NULL,
  action text NOT NULL,
  resource text NOT NULL,
  outcome text NOT NULL,
  reason text NOT NULL,
  lease_id text,
  version integer,
  request_id text,
  source_ip text,
  token_ref text,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_events_resource ON audit_events(resource, time);
CREATE INDEX audit_events_actor ON audit_events(actor, time);
CREATE INDEX audit_events_time ON audit_events(time);

CREATE TABLE broker_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);
