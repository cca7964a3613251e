-- Up Migration

-- Agents: non-human principals that authenticate with `ocv_` API keys (api_keys rows with
-- principal_type 'agent'). Deleting one is a soft delete so audit records keep naming it.
CREATE TABLE agents (
  id           uuid PRIMARY KEY,
  org_id       uuid NOT NULL REFERENCES orgs (id),
  name         text NOT NULL,
  description  text NOT NULL DEFAULT '',
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  disabled_at  timestamptz,
  deleted_at   timestamptz
);
CREATE UNIQUE INDEX agents_org_name ON agents (org_id, name) WHERE deleted_at IS NULL;

-- Grants: deny by default; a request is allowed when one unexpired grant of its principal in
-- its vault names the permission, matches the path and satisfies its conditions.
-- principal_id: a user or agent id, or "system:serviceaccount:<ns>:<name>".
CREATE TABLE policies (
  id                   uuid PRIMARY KEY,
  org_id               uuid NOT NULL REFERENCES orgs (id),
  vault_id             uuid NOT NULL REFERENCES vaults (id),
  principal_type       text NOT NULL CHECK (principal_type IN ('user', 'agent', 'k8s_service_account')),
  principal_id         text NOT NULL,
  secret_path_pattern  text NOT NULL,
  permissions          text[] NOT NULL CHECK (
    cardinality(permissions) BETWEEN 1 AND 4
    AND permissions <@ ARRAY['read', 'write', 'delete', 'list']::text[]
  ),
  conditions           jsonb NOT NULL DEFAULT '{}',
  expires_at           timestamptz,
  created_by           text NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX policies_vault ON policies (vault_id, principal_type, principal_id);
CREATE INDEX policies_principal ON policies (org_id, principal_type, principal_id);

-- Down Migration

DROP TABLE policies;
DROP TABLE agents;
