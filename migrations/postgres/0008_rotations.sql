-- Rotations: one row per rotation of a secret (src/rotation/machine.ts). Each step the machine
-- completes is recorded here (last_step, step_state: the plain JSON state the step returned,
-- never a value) before the next starts, so a broker that dies mid-rotation leaves enough for
-- another to resume or roll back. A running rotation is held by one broker (owner) until
-- lease_until, renewed at every step; a lease that passed means its broker died.
-- Times are milliseconds since the epoch.
CREATE TABLE rotations (
  id text PRIMARY KEY,
  secret_path text NOT NULL,
  strategy text NOT NULL,
  rule_ref text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'rolled_back')),
  last_step text CHECK (last_step IN ('create', 'set', 'test', 'finish')),
  step_state text NOT NULL DEFAULT '{}',
  attempt bigint NOT NULL DEFAULT 1,
  error_code text,
  version bigint,
  owner text,
  lease_until bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  ended_at bigint
);
-- At most one active rotation per secret: a second start is a duplicate key (conflict).
CREATE UNIQUE INDEX rotations_one_active ON rotations(secret_path) WHERE state IN ('pending', 'running');
CREATE INDEX rotations_secret ON rotations(secret_path, created_at);

-- The pending value of a rotation whose backend cannot stage it, between create and the end of
-- the rotation: envelope-encrypted like a secret version, bound to the secret path and the
-- rotation id, and in its own table so no read path of secret versions can ever serve it.
CREATE TABLE rotation_pending_values (
  rotation_id text PRIMARY KEY,
  key_id text NOT NULL,
  wrapped_key bytea NOT NULL,
  ciphertext bytea NOT NULL,
  created_at bigint NOT NULL
);
