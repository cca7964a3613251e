// SQL for vaults and their KEK versions. Functions take a Queryable so services decide the
// transaction.
import { type Queryable, query } from '../../db/pool.js';

export interface VaultRow {
  id: string;
  org_id: string;
  name: string;
  description: string;
  kms_key_uri: string;
  custody: 'wrapped' | 'kms';
  current_kek_version: number;
  cmek_fingerprint: string | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export interface KekRow {
  version: number;
  wrapped_kek: Buffer | null;
  kms_backend: string;
  kms_key_id: string;
}

export async function insertVault(
  db: Queryable,
  v: Omit<VaultRow, 'created_at' | 'updated_at' | 'deleted_at'>,
): Promise<VaultRow> {
  const { rows } = await query<VaultRow>(
    db,
    `INSERT INTO vaults (id, org_id, name, description, kms_key_uri, custody, current_kek_version, cmek_fingerprint)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [
      v.id,
      v.org_id,
      v.name,
      v.description,
      v.kms_key_uri,
      v.custody,
      v.current_kek_version,
      v.cmek_fingerprint,
    ],
  );
  return rows[0] as VaultRow;
}

export async function insertKek(db: Queryable, vaultId: string, k: KekRow): Promise<void> {
  await query(
    db,
    'INSERT INTO vault_keks (vault_id, version, wrapped_kek, kms_backend, kms_key_id) VALUES ($1, $2, $3, $4, $5)',
    [vaultId, k.version, k.wrapped_kek, k.kms_backend, k.kms_key_id],
  );
}

export async function getVault(
  db: Queryable,
  orgId: string,
  id: string,
  opts: { forUpdate?: boolean; forShare?: boolean; includeDeleted?: boolean } = {},
): Promise<VaultRow | undefined> {
  // FOR SHARE: writers of secrets hold it, so a KEK rotation (FOR UPDATE) waits for them and
  // they, once it commits, see the new KEK version.
  const lock = opts.forUpdate ? ' FOR UPDATE' : opts.forShare ? ' FOR SHARE' : '';
  const { rows } = await query<VaultRow>(
    db,
    `SELECT * FROM vaults WHERE id = $1 AND org_id = $2${opts.includeDeleted ? '' : ' AND deleted_at IS NULL'}${lock}`,
    [id, orgId],
  );
  return rows[0];
}

export async function listVaults(db: Queryable, orgId: string): Promise<VaultRow[]> {
  const { rows } = await query<VaultRow>(
    db,
    'SELECT * FROM vaults WHERE org_id = $1 AND deleted_at IS NULL ORDER BY name',
    [orgId],
  );
  return rows;
}

export async function getKeks(db: Queryable, vaultId: string): Promise<KekRow[]> {
  const { rows } = await query<KekRow>(
    db,
    'SELECT version, wrapped_kek, kms_backend, kms_key_id FROM vault_keks WHERE vault_id = $1 ORDER BY version',
    [vaultId],
  );
  return rows;
}

export async function updateVault(
  db: Queryable,
  orgId: string,
  id: string,
  patch: { name?: string | undefined; description?: string | undefined },
): Promise<VaultRow | undefined> {
  const { rows } = await query<VaultRow>(
    db,
    `UPDATE vaults SET name = COALESCE($3, name), description = COALESCE($4, description), updated_at = now()
      WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL RETURNING *`,
    [id, orgId, patch.name ?? null, patch.description ?? null],
  );
  return rows[0];
}

export async function softDeleteVault(db: Queryable, id: string): Promise<void> {
  await query(db, 'UPDATE vaults SET deleted_at = now(), updated_at = now() WHERE id = $1', [id]);
}

/** Crypto-shredding: every KEK of the vault and every KMS-wrapped DEK is destroyed. */
export async function shredVault(db: Queryable, id: string): Promise<void> {
  await query(
    db,
    'UPDATE vault_keks SET wrapped_kek = NULL, destroyed_at = now() WHERE vault_id = $1 AND wrapped_kek IS NOT NULL',
    [id],
  );
  await query(
    db,
    `UPDATE secret_versions SET ciphertext = NULL, wrapped_dek = NULL, destroyed_at = now()
      WHERE vault_id = $1 AND destroyed_at IS NULL`,
    [id],
  );
}
