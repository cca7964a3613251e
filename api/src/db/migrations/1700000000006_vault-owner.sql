-- Up Migration

-- The Kubernetes object a vault was created for (a OneclawVault): the operator adopts, grants on
-- and purges only a vault that records its own object's uid. A vault made through the API or the
-- CLI records none. All five fields are set together or not at all.
ALTER TABLE vaults
  ADD COLUMN owner_kind         text,
  ADD COLUMN owner_api_version  text,
  ADD COLUMN owner_namespace    text,
  ADD COLUMN owner_name         text,
  ADD COLUMN owner_uid          uuid,
  ADD CONSTRAINT vaults_owner_whole CHECK (
    (owner_uid IS NULL AND owner_kind IS NULL AND owner_api_version IS NULL
      AND owner_namespace IS NULL AND owner_name IS NULL)
    OR (owner_uid IS NOT NULL AND owner_kind IS NOT NULL AND owner_api_version IS NOT NULL
      AND owner_namespace IS NOT NULL AND owner_name IS NOT NULL)
  );

-- An object owns at most one vault, deleted ones included: its uid always names the same vault.
CREATE UNIQUE INDEX vaults_owner_uid ON vaults (owner_uid);

-- Once recorded, an owner never changes and is never cleared, whatever code path writes the row.
CREATE FUNCTION vaults_owner_immutable() RETURNS trigger AS $$
BEGIN
  IF OLD.owner_uid IS NOT NULL AND (
    NEW.owner_uid IS DISTINCT FROM OLD.owner_uid
    OR NEW.owner_kind IS DISTINCT FROM OLD.owner_kind
    OR NEW.owner_api_version IS DISTINCT FROM OLD.owner_api_version
    OR NEW.owner_namespace IS DISTINCT FROM OLD.owner_namespace
    OR NEW.owner_name IS DISTINCT FROM OLD.owner_name
  ) THEN
    RAISE EXCEPTION 'the owner of vault % cannot change', OLD.id USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER vaults_owner_immutable BEFORE UPDATE ON vaults
  FOR EACH ROW EXECUTE FUNCTION vaults_owner_immutable();

-- Down Migration

DROP TRIGGER vaults_owner_immutable ON vaults;
DROP FUNCTION vaults_owner_immutable();
DROP INDEX vaults_owner_uid;
ALTER TABLE vaults
  DROP CONSTRAINT vaults_owner_whole,
  DROP COLUMN owner_uid,
  DROP COLUMN owner_name,
  DROP COLUMN owner_namespace,
  DROP COLUMN owner_api_version,
  DROP COLUMN owner_kind;
