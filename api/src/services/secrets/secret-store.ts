// SQL for secrets and their versions.
import { pathPatternRegex } from '../../../../common/src/path-glob.js';
import type { Custody } from '../../../../contract/src/vaults.js';
import { prepared, type Queryable, query, queryRow, queryRows } from '../../db/pool.js';
import type { NewAuditRow } from '../audit/audit-store.js';

export interface SecretRow {
  id: string;
  vault_id: string;
  path: string;
  current_version: number;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export interface VersionRow {
  secret_id: string;
  version: number;
  vault_id: string;
  type: string;
  ciphertext: Buffer | null;
  wrapped_dek: Buffer | null;
  kek_version: number;
  metadata: Record<string, string>;
  expires_at: Date | null;
  max_access_count: number | null;
  access_count: number;
  cmek_fingerprint: string | null;
  created_by: string;
  created_at: Date;
  destroyed_at: Date | null;
}

const WRITE_STATE = prepared(
  'write-state',
  `SELECT vt.custody, vt.cmek_fingerprint, vt.current_kek_version, k.wrapped_kek, s.current_version
       FROM vaults vt
       LEFT JOIN vault_keks k ON k.vault_id = vt.id AND k.version = vt.current_kek_version
       LEFT JOIN secrets s ON s.vault_id = vt.id AND s.path = $3
      WHERE vt.id = $1 AND vt.org_id = $2 AND vt.deleted_at IS NULL`,
);

/** What a write reads first: the vault's current KEK and CMEK key, and the path's current version. */
export interface WriteState {
  custody: Custody;
  cmek_fingerprint: string | null;
  current_kek_version: number;
  /** Null in kms custody. */
  wrapped_kek: Buffer | null;
  /** Null when the path has no secret yet. */
  current_version: number | null;
}

export function writeState(
  db: Queryable,
  orgId: string,
  vaultId: string,
  path: string,
): Promise<WriteState | undefined> {
  return queryRow<WriteState>(db, WRITE_STATE, [vaultId, orgId, path]);
}

const WRITE_VERSION = prepared(
  'write-version',
  `WITH vault AS (
       SELECT id FROM vaults
        WHERE id = $1::uuid AND org_id = $2::uuid AND deleted_at IS NULL
          AND current_kek_version = $3::int AND cmek_fingerprint IS NOT DISTINCT FROM $4::text
          FOR SHARE
     ), secret AS (
       INSERT INTO secrets AS s (id, vault_id, path, current_version)
       SELECT $5::uuid, vault.id, $6::text, $7::int FROM vault
       ON CONFLICT (vault_id, path) DO UPDATE
          SET current_version = EXCLUDED.current_version, deleted_at = NULL, updated_at = now()
        WHERE s.current_version = $8
       RETURNING s.id
     ), version AS (
       INSERT INTO secret_versions (secret_id, version, vault_id, type, ciphertext, wrapped_dek, kek_version,
                                    metadata, expires_at, max_access_count, cmek_fingerprint, created_by)
       SELECT secret.id, $7, $1, $9::text, $10::bytea, $11::bytea, $24::int, $12::jsonb, $13::timestamptz, $14::int,
              $4, $15::text
         FROM secret
       RETURNING created_at
     ), audit AS (
       INSERT INTO audit_events (org_id, at, actor, action, vault_id, path, version, decision, reason,
                                 request_id, details)
       SELECT $2, $16::timestamptz, $17::text, $18::text, $1, $6, $7, $19::text, $20::text, $21::text, $22::jsonb
         FROM version
     ), event AS (
       INSERT INTO vault_events (vault_id, kind, path, version)
       SELECT $1, 'secret.written', $6, $7 FROM version
       RETURNING id
     )
     SELECT version.created_at, pg_notify($23::text, $1 || ':' || event.id) FROM version, event`,
);

/** A new version, sealed against the state `writeState` returned. */
export interface NewVersion {
  orgId: string;
  vaultId: string;
  path: string;
  /** The id a secret created by this write gets. */
  newSecretId: string;
  /** The version the state showed (0: no secret yet); the write happens only if it still is. */
  expectedVersion: number;
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
  createdBy: string;
  audit: NewAuditRow;
  eventChannel: string;
}

/**
 * Writes a version, moves the path to it, and records its audit record and change-feed event,
 * in one statement and so one commit. It writes nothing, and returns undefined, when the state
 * the value was sealed against has changed since it was read: another writer took the path's
 * next version, or the vault was deleted, or its KEK or CMEK key changed. The caller reads the
 * state again and retries. The vault row is share-locked meanwhile, as a KEK rotation locks it
 * for update, so a rotation never misses a version written under the old KEK.
 */
export async function writeVersion(db: Queryable, w: NewVersion): Promise<{ created_at: Date } | undefined> {
  const a = w.audit;
  return queryRow<{ created_at: Date }>(db, WRITE_VERSION, [
    w.vaultId,
    w.orgId,
    w.vaultKekVersion,
    w.cmekFingerprint,
    w.newSecretId,
    w.path,
    w.version,
    w.expectedVersion,
    w.type,
    w.ciphertext,
    w.wrappedDek,
    JSON.stringify(w.metadata),
    w.expiresAt,
    w.maxAccessCount,
    w.createdBy,
    a.at,
    a.actor,
    a.action,
    a.decision,
    a.reason,
    a.request_id,
    JSON.stringify(a.details),
    w.eventChannel,
    w.kekVersion,
  ]);
}

export async function getSecret(
  db: Queryable,
  vaultId: string,
  path: string,
): Promise<SecretRow | undefined> {
  return queryRow<SecretRow>(db, 'SELECT * FROM secrets WHERE vault_id = $1 AND path = $2', [vaultId, path]);
}

/**
 * Counts one access, atomically, if the version still allows one. Returns false when the
 * version is used up (max_access_count reached) or expired, in which case nothing changed.
 */
export async function countAccess(tx: Queryable, secretId: string, version: number): Promise<boolean> {
  const { rowCount } = await query(
    tx,
    `UPDATE secret_versions SET access_count = access_count + 1
      WHERE secret_id = $1 AND version = $2
        AND (max_access_count IS NULL OR access_count < max_access_count)
        AND (expires_at IS NULL OR expires_at > now())`,
    [secretId, version],
  );
  return rowCount === 1;
}

/** A secret with what a listing shows of its current version. */
export type ListedSecretRow = SecretRow & {
  type: string;
  expires_at: Date | null;
  metadata: Record<string, string>;
  cmek_fingerprint: string | null;
};

export async function listSecrets(
  db: Queryable,
  vaultId: string,
  opts: { prefix: string; after: string; limit: number; patterns?: string[] | undefined },
): Promise<ListedSecretRow[]> {
  return queryRows<ListedSecretRow>(
    db,
    `SELECT s.*, v.type, v.expires_at, v.metadata, v.cmek_fingerprint
       FROM secrets s JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
      WHERE s.vault_id = $1 AND s.deleted_at IS NULL AND s.path LIKE $2 AND s.path > $3
        AND ($5::text[] IS NULL OR s.path ~ ANY ($5::text[]))
      ORDER BY s.path LIMIT $4`,
    [
      vaultId,
      `${opts.prefix.replace(/[\\%_]/g, '\\$&')}%`,
      opts.after,
      opts.limit,
      // PostgreSQL's regex engine does not backtrack on these; V8's would (see match.ts).
      opts.patterns?.map(pathPatternRegex) ?? null,
    ],
  );
}

export async function listVersions(db: Queryable, secretId: string): Promise<VersionRow[]> {
  return queryRows<VersionRow>(db, 'SELECT * FROM secret_versions WHERE secret_id = $1 ORDER BY version', [
    secretId,
  ]);
}

export async function softDelete(tx: Queryable, secretId: string): Promise<void> {
  await query(tx, 'UPDATE secrets SET deleted_at = now(), updated_at = now() WHERE id = $1', [secretId]);
}

/**
 * Crypto-shredding: the stored value and the wrapped DEK of every version of one secret, or of
 * a whole vault, are gone for good. Returns how many versions were destroyed.
 */
export async function destroyVersions(
  tx: Queryable,
  of: { secretId: string } | { vaultId: string },
): Promise<number> {
  const [column, id] = 'secretId' in of ? ['secret_id', of.secretId] : ['vault_id', of.vaultId];
  const { rowCount } = await query(
    tx,
    `UPDATE secret_versions SET ciphertext = NULL, wrapped_dek = NULL, destroyed_at = now()
      WHERE ${column} = $1 AND destroyed_at IS NULL`,
    [id],
  );
  return rowCount ?? 0;
}

/** New key material for one stored version; `ciphertext` and `cmekFingerprint` only if changed. */
export interface VersionRewrite {
  secretId: string;
  version: number;
  wrappedDek: Buffer;
  kekVersion: number;
  ciphertext?: Buffer;
  cmekFingerprint?: string;
}

/**
 * Rewrites the key material of many versions in one statement, so a rotation batch costs one
 * round trip instead of one per version. Columns not given keep their value.
 */
export async function rewriteVersions(tx: Queryable, rewrites: VersionRewrite[]): Promise<void> {
  if (!rewrites.length) return;
  await query(
    tx,
    `UPDATE secret_versions v
        SET wrapped_dek = u.wrapped_dek, kek_version = u.kek_version,
            ciphertext = COALESCE(u.ciphertext, v.ciphertext),
            cmek_fingerprint = COALESCE(u.cmek_fingerprint, v.cmek_fingerprint)
       FROM unnest($1::uuid[], $2::int[], $3::bytea[], $4::int[], $5::bytea[], $6::text[])
            AS u(secret_id, version, wrapped_dek, kek_version, ciphertext, cmek_fingerprint)
      WHERE v.secret_id = u.secret_id AND v.version = u.version`,
    [
      rewrites.map((r) => r.secretId),
      rewrites.map((r) => r.version),
      rewrites.map((r) => r.wrappedDek),
      rewrites.map((r) => r.kekVersion),
      rewrites.map((r) => r.ciphertext ?? null),
      rewrites.map((r) => r.cmekFingerprint ?? null),
    ],
  );
}
