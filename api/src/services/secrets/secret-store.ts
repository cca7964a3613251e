// SQL for secrets and their versions.
import { pathPatternRegex } from '../../../../common/src/path-glob.js';
import { type Queryable, query, queryRow, queryRows } from '../../db/pool.js';

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
