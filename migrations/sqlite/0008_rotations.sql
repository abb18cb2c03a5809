-- Rotations: one row per rotation of a secret (src/rotation/machine.ts). Each step the machine
-- completes is recorded here (last_step, step_state: the plain JSON state the step returned,
-- never a value) before the next starts, so a broker that dies mid-rotation leaves enough for
-- another to resume or roll back. A running rotation is held by one broker (owner) until
-- lease_until, renewed at every step; a lease that passed means its broker died.
-- Times are milliseconds since the epoch.
CREATE TABLE rotations (
  id TEXT PRIMARY KEY,
  secret_path TEXT NOT NULL,
  strategy TEXT NOT NULL,
  rule_ref TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'rolled_back')),
  last_step TEXT CHECK (last_step IN ('create', 'set', 'test', 'finish')),
  step_state TEXT NOT NULL DEFAULT '{}',
  attempt INTEGER NOT NULL DEFAULT 1,
  error_code TEXT,
  version INTEGER,
  owner TEXT,
  lease_until INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  ended_at INTEGER
);
-- At most one active rotation per secret: a second start is a duplicate key (conflict).
CREATE UNIQUE INDEX rotations_one_active ON rotations(secret_path) WHERE state IN ('pending', 'running');
CREATE INDEX rotations_secret ON rotations(secret_path, created_at);

-- The pending value of a rotation whose backend cannot stage it, between create and the end of
-- the rotation: envelope-encrypted like a secret version, bound to the secret path and the
-- rotation id, and in its own table so no read path of secret versions can ever serve it.
CREATE TABLE rotation_pending_values (
  rotation_id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  wrapped_key BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
