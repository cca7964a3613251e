-- Up Migration

CREATE TABLE orgs (
  id          uuid PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id           uuid PRIMARY KEY,
  org_id       uuid NOT NULL REFERENCES orgs (id),
  name         text NOT NULL,
  role         text NOT NULL CHECK (role IN ('admin', 'member')),
  disabled_at  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, name)
);

-- API keys are stored as a keyed hash of the secret part; `lookup` is the public prefix that
-- finds the row without scanning. Keys are shown once, at creation.
CREATE TABLE api_keys (
  id              uuid PRIMARY KEY,
  org_id          uuid NOT NULL REFERENCES orgs (id),
  principal_type  text NOT NULL CHECK (principal_type IN ('user', 'agent')),
  principal_id    uuid NOT NULL,
  lookup          text NOT NULL UNIQUE,
  key_hash        bytea NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz,
  revoked_at      timestamptz
);
CREATE INDEX api_keys_principal ON api_keys (principal_type, principal_id);

CREATE TABLE vaults (
  id                   uuid PRIMARY KEY,
  org_id               uuid NOT NULL REFERENCES orgs (id),
  name                 text NOT NULL,
  description          text NOT NULL DEFAULT '',
  kms_key_uri          text NOT NULL,
  custody              text NOT NULL CHECK (custody IN ('wrapped', 'kms')),
  current_kek_version  integer NOT NULL CHECK (current_kek_version >= 1),
  cmek_fingerprint     text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  deleted_at           timestamptz
);
CREATE UNIQUE INDEX vaults_org_name ON vaults (org_id, name) WHERE deleted_at IS NULL;

-- One row per KEK version. `wrapped_kek` is a KMS blob naming the root key; purge sets it to
-- NULL (crypto-shredding: nothing left can unwrap the vault's DEKs).
CREATE TABLE vault_keks (
  vault_id      uuid NOT NULL REFERENCES vaults (id),
  version       integer NOT NULL CHECK (version >= 1),
  wrapped_kek   bytea,
  kms_backend   text NOT NULL,
  kms_key_id    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  destroyed_at  timestamptz,
  PRIMARY KEY (vault_id, version),
  CHECK ((wrapped_kek IS NULL) = (destroyed_at IS NOT NULL))
);

CREATE TABLE secrets (
  id               uuid PRIMARY KEY,
  vault_id         uuid NOT NULL REFERENCES vaults (id),
  path             text NOT NULL,
  current_version  integer NOT NULL CHECK (current_version >= 1),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  deleted_at       timestamptz,
  UNIQUE (vault_id, path)
);
CREATE INDEX secrets_vault_path ON secrets (vault_id, path text_pattern_ops);

CREATE TABLE secret_versions (
  secret_id         uuid NOT NULL REFERENCES secrets (id),
  version           integer NOT NULL CHECK (version >= 1),
  vault_id          uuid NOT NULL REFERENCES vaults (id),
  type              text NOT NULL,
  ciphertext        bytea,
  wrapped_dek       bytea,
  kek_version       integer NOT NULL,
  metadata          jsonb NOT NULL DEFAULT '{}',
  expires_at        timestamptz,
  max_access_count  integer CHECK (max_access_count IS NULL OR max_access_count >= 1),
  access_count      integer NOT NULL DEFAULT 0,
  cmek_fingerprint  text,
  created_by        text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  destroyed_at      timestamptz,
  PRIMARY KEY (secret_id, version),
  CHECK ((ciphertext IS NULL) = (destroyed_at IS NOT NULL)),
  CHECK ((wrapped_dek IS NULL) = (destroyed_at IS NOT NULL))
);
-- KEK rotation walks a vault's versions still under an old KEK.
CREATE INDEX secret_versions_rewrap ON secret_versions (vault_id, kek_version) WHERE destroyed_at IS NULL;

-- The change feed: durable, ordered by id, so a reconnecting reader resumes from its cursor.
CREATE TABLE vault_events (
  id          bigserial PRIMARY KEY,
  vault_id    uuid NOT NULL REFERENCES vaults (id),
  kind        text NOT NULL,
  path        text,
  version     integer,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vault_events_vault ON vault_events (vault_id, id);

-- Append-only, hash-chained per org. Never holds a secret value, key or token.
CREATE TABLE audit_events (
  seq         bigserial PRIMARY KEY,
  org_id      uuid NOT NULL REFERENCES orgs (id),
  at          timestamptz NOT NULL,
  actor       text NOT NULL,
  action      text NOT NULL,
  vault_id    uuid,
  path        text,
  version     integer,
  decision    text NOT NULL CHECK (decision IN ('allow', 'deny')),
  reason      text,
  request_id  text,
  details     jsonb NOT NULL DEFAULT '{}',
  prev_hash   bytea NOT NULL,
  hash        bytea NOT NULL UNIQUE
);
CREATE INDEX audit_events_org ON audit_events (org_id, seq);
CREATE INDEX audit_events_vault ON audit_events (vault_id, seq);

CREATE TABLE jobs (
  id           uuid PRIMARY KEY,
  org_id       uuid NOT NULL REFERENCES orgs (id),
  vault_id     uuid REFERENCES vaults (id),
  kind         text NOT NULL,
  status       text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
  params       jsonb NOT NULL DEFAULT '{}',
  processed    integer NOT NULL DEFAULT 0,
  total        integer NOT NULL DEFAULT 0,
  error        text,
  lease_owner  text,
  lease_until  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_runnable ON jobs (status, lease_until) WHERE status IN ('pending', 'running');

-- Down Migration

DROP TABLE jobs;
DROP TABLE audit_events;
DROP TABLE vault_events;
DROP TABLE secret_versions;
DROP TABLE secrets;
DROP TABLE vault_keks;
DROP TABLE vaults;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE orgs;
