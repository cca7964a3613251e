-- Up Migration

-- Audit records are written in the transaction of what they record, without a lock, and
-- sealed into the org's hash chain shortly after by a chainer (one at a time per org, under an
-- advisory lock). `chain_seq` is a record's position in its org's chain; a record not yet
-- chained has no chain_seq, prev_hash or hash. Before this migration every record was chained
-- in insertion order, so positions are numbered in that order and every hash stays valid.
ALTER TABLE audit_events ADD COLUMN chain_seq bigint;
UPDATE audit_events a SET chain_seq = r.n
  FROM (SELECT seq, row_number() OVER (PARTITION BY org_id ORDER BY seq) AS n FROM audit_events) r
 WHERE a.seq = r.seq;
ALTER TABLE audit_events ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_chained
  CHECK ((chain_seq IS NULL) = (hash IS NULL) AND (hash IS NULL) = (prev_hash IS NULL));
CREATE UNIQUE INDEX audit_events_chain ON audit_events (org_id, chain_seq);
CREATE INDEX audit_events_pending ON audit_events (org_id, seq) WHERE hash IS NULL;
DROP INDEX audit_events_org;

-- Down Migration

CREATE INDEX audit_events_org ON audit_events (org_id, seq);
DROP INDEX audit_events_pending;
DROP INDEX audit_events_chain;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_chained;
ALTER TABLE audit_events ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
ALTER TABLE audit_events DROP COLUMN chain_seq;
