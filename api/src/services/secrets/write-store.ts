// The write path's two statements, each shared by the writes of concurrent requests: the state
// a value is sealed against, and the write itself — the version, the path moved to it, its
// audit record and its change-feed event, in one statement and so one commit.
import type { Custody } from '../../../../contract/src/vaults.js';
import { prepared, type Queryable, queryRows } from '../../db/pool.js';
import { EVENTS_CHANNEL } from '../events/events-store.js';

export interface StateRequest {
  orgId: string;
  vaultId: string;
  path: string;
}

/** What a write reads first: the vault's current KEK and CMEK key, and the path's current version. */
export interface WriteState {
  /** Null when the vault is not in the org (or deleted). */
  custody: Custody | null;
  cmek_fingerprint: string | null;
  current_kek_version: number;
  /** Null in kms custody. */
  wrapped_kek: Buffer | null;
  /** Null when the path has no secret yet. */
  current_version: number | null;
}

const WRITE_STATES = prepared(
  'write-states',
  `SELECT vt.custody, vt.cmek_fingerprint, vt.current_kek_version, k.wrapped_kek, s.current_version
     FROM unnest($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY AS r(org_id, vault_id, path, n)
     LEFT JOIN vaults vt ON vt.id = r.vault_id AND vt.org_id = r.org_id AND vt.deleted_at IS NULL
     LEFT JOIN vault_keks k ON k.vault_id = vt.id AND k.version = vt.current_kek_version
     LEFT JOIN secrets s ON s.vault_id = vt.id AND s.path = r.path
    ORDER BY r.n`,
);

/** One state per request, in order. */
export function writeStates(db: Queryable, reqs: StateRequest[]): Promise<WriteState[]> {
  return queryRows<WriteState>(db, WRITE_STATES, [
    reqs.map((r) => r.orgId),
    reqs.map((r) => r.vaultId),
    reqs.map((r) => r.path),
  ]);
}

/** A new version, sealed against the state `writeStates` returned. */
export interface NewVersion {
  orgId: string;
  vaultId: string;
  path: string;
  /** The id a secret created by this write gets. */
  newSecretId: string;
  /** The path's current version + 1: the write happens only if the current one is still one less. */
  version: number;
  /** The vault's current KEK version and CMEK key the value was sealed and checked against. */
  vaultKekVersion: number;
  cmekFingerprint: string | null;
  /** The KEK version the DEK is wrapped under (0: wrapped by the KMS itself, in kms custody). */
  kekVersion: number;
  type: string;
  ciphertext: Buffer;
  wrappedDek: Buffer;
  metadata: Record<string, string>;
  expiresAt: Date | null;
  maxAccessCount: number | null;
  /** The writer, as its audit record names it. */
  createdBy: string;
  at: Date;
  requestId: string | null;
}

const WRITE_VERSIONS = prepared(
  'write-versions',
  `WITH w AS (
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::uuid[], $6::text[], $7::int[],
                          $8::text[], $9::bytea[], $10::bytea[], $11::int[], $12::jsonb[], $13::timestamptz[],
                          $14::int[], $15::text[], $16::timestamptz[], $17::text[])
            WITH ORDINALITY AS w(org_id, vault_id, vault_kek_version, cmek_fingerprint, new_secret_id, path,
                                 version, type, ciphertext, wrapped_dek, kek_version, metadata, expires_at,
                                 max_access_count, created_by, at, request_id, n)
   ), vault AS (
     SELECT w.n FROM w JOIN vaults v
         ON v.id = w.vault_id AND v.org_id = w.org_id AND v.deleted_at IS NULL
        AND v.current_kek_version = w.vault_kek_version
        AND v.cmek_fingerprint IS NOT DISTINCT FROM w.cmek_fingerprint
        FOR SHARE OF v
   ), secret AS (
     INSERT INTO secrets AS s (id, vault_id, path, current_version)
     SELECT w.new_secret_id, w.vault_id, w.path, w.version FROM w JOIN vault USING (n)
     ON CONFLICT (vault_id, path) DO UPDATE
        SET current_version = EXCLUDED.current_version, deleted_at = NULL, updated_at = now()
      WHERE s.current_version = EXCLUDED.current_version - 1
     RETURNING s.id, s.vault_id, s.path
   ), written AS (
     SELECT w.*, secret.id AS secret_id FROM w JOIN secret ON secret.vault_id = w.vault_id AND secret.path = w.path
   ), version AS (
     INSERT INTO secret_versions (secret_id, version, vault_id, type, ciphertext, wrapped_dek, kek_version,
                                  metadata, expires_at, max_access_count, cmek_fingerprint, created_by)
     SELECT secret_id, version, vault_id, type, ciphertext, wrapped_dek, kek_version, metadata, expires_at,
            max_access_count, cmek_fingerprint, created_by
       FROM written
     RETURNING secret_id, created_at
   ), audit AS (
     INSERT INTO audit_events (org_id, at, actor, action, vault_id, path, version, decision, request_id, details)
     SELECT org_id, at, created_by, 'secret.write', vault_id, path, version, 'allow', request_id, '{}' FROM written
   ), event AS (
     INSERT INTO vault_events (vault_id, kind, path, version)
     SELECT vault_id, 'secret.written', path, version FROM written
     RETURNING id, vault_id
   )
   SELECT version.created_at,
          (SELECT count(pg_notify($18::text, e.vault_id || ':' || e.id)) FROM event e) AS notified
     FROM w LEFT JOIN written ON written.n = w.n LEFT JOIN version ON version.secret_id = written.secret_id
    ORDER BY w.n`,
);

/**
 * Writes each version unless the state it was sealed against has changed since it was read
 * (another writer took the path's next version, the vault was deleted, its KEK or CMEK key
 * changed): then its result is undefined and nothing of it was written; the caller reads the
 * state again and retries. Each vault is share-locked meanwhile, as a KEK rotation locks it for
 * update, so a rotation never misses a version written under the old KEK. At most one write per
 * path may be in one call.
 */
export async function writeVersions(
  db: Queryable,
  ws: NewVersion[],
): Promise<Array<{ created_at: Date } | undefined>> {
  const rows = await queryRows<{ created_at: Date | null }>(db, WRITE_VERSIONS, [
    ws.map((w) => w.orgId),
    ws.map((w) => w.vaultId),
    ws.map((w) => w.vaultKekVersion),
    ws.map((w) => w.cmekFingerprint),
    ws.map((w) => w.newSecretId),
    ws.map((w) => w.path),
    ws.map((w) => w.version),
    ws.map((w) => w.type),
    ws.map((w) => w.ciphertext),
    ws.map((w) => w.wrappedDek),
    ws.map((w) => w.kekVersion),
    ws.map((w) => JSON.stringify(w.metadata)),
    ws.map((w) => w.expiresAt),
    ws.map((w) => w.maxAccessCount),
    ws.map((w) => w.createdBy),
    ws.map((w) => w.at),
    ws.map((w) => w.requestId),
    EVENTS_CHANNEL,
  ]);
  return rows.map((r) => (r.created_at ? { created_at: r.created_at } : undefined));
}
