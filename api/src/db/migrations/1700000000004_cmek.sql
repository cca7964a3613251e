-- Up Migration

-- A CMEK rotation walks the versions of a vault still under the old customer key.
CREATE INDEX secret_versions_cmek ON secret_versions (vault_id, cmek_fingerprint)
  WHERE destroyed_at IS NULL AND cmek_fingerprint IS NOT NULL;

-- At most one unfinished CMEK rotation per vault, whichever replica starts it.
CREATE UNIQUE INDEX jobs_one_open_cmek_rotation ON jobs (vault_id)
  WHERE kind = 'cmek-rotate' AND status IN ('pending', 'running');

-- Down Migration

DROP INDEX jobs_one_open_cmek_rotation;
DROP INDEX secret_versions_cmek;
