-- Up Migration

-- Public halves of the token signing keys replicas have used. A replica records its key at
-- start and refreshes `last_active_at` while it runs; every replica trusts the keys active
-- within one token lifetime, so changing ONECLAW_SIGNING_KEY (a rolling restart) never
-- invalidates a live token early, and a retired key stops being trusted once its last token
-- has expired.
CREATE TABLE signing_keys (
  kid             text PRIMARY KEY,
  alg             text NOT NULL,
  public_jwk      jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_active_at  timestamptz NOT NULL DEFAULT now()
);

-- Down Migration

DROP TABLE signing_keys;
