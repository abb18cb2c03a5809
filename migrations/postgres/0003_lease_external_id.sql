-- The backend's own lease behind a dynamic credential (e.g. a Vault database-engine lease id):
-- renewing or revoking the broker lease renews or revokes it.
ALTER TABLE leases ADD COLUMN external_lease_id text;
