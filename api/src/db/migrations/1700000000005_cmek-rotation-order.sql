-- Up Migration

-- A CMEK rotation batch takes the first 100 versions under the old key in (secret_id, version)
-- order; with the order in the index it reads those 100 instead of sorting every version left.
CREATE INDEX secret_versions_cmek_ordered ON secret_versions (vault_id, cmek_fingerprint, secret_id, version)
  WHERE destroyed_at IS NULL AND cmek_fingerprint IS NOT NULL;
DROP INDEX secret_versions_cmek;

-- Down Migration

CREATE INDEX secret_versions_cmek ON secret_versions (vault_id, cmek_fingerprint)
  WHERE destroyed_at IS NULL AND cmek_fingerprint IS NOT NULL;
DROP INDEX secret_versions_cmek_ordered;
