// SQL for vaults and their KEK versions. Functions take a Queryable so services decide the
// transaction.
import type { Custody, VaultOwner } from '../../../../contract/src/vaults.js';
import { type Queryable, query, queryRow, queryRows } from '../../db/pool.js';

export interface VaultRow {
  id: string;
  org_id: string;
  name: string;
  description: string;
  kms_key_uri: string;
  custody: Custody;
  current_kek_version: number;
  cmek_fingerprint: string | null;
  owner_kind: string | null;
  owner_api_version: string | null;
  owner_namespace: string | null;
  owner_name: string | null;
  owner_uid: string | null;
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

export function ownerOf(v: VaultRow): VaultOwner | null {
  if (v.owner_uid === null) return null;
  return {
    kind: v.owner_kind as string,
    api_version: v.owner_api_version as string,
    namespace: v.owner_namespace as string,
    name: v.owner_name as string,
    uid: v.owner_uid,
  };
}

type OwnerColumns = 'owner_kind' | 'owner_api_version' | 'owner_namespace' | 'owner_name' | 'owner_uid';

export async function insertVault(
  db: Queryable,
  v: Omit<VaultRow, 'created_at' | 'updated_at' | 'deleted_at' | OwnerColumns>,
  owner: VaultOwner | null = null,
): Promise<VaultRow> {
  return (await queryRow<VaultRow>(
    db,
    `INSERT INTO vaults (id, org_id, name, description, kms_key_uri, custody, current_kek_version, cmek_fingerprint,
                         owner_kind, owner_api_version, owner_namespace, owner_name, owner_uid)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
    [
      v.id,
      v.org_id,
      v.name,
      v.description,
      v.kms_key_uri,
      v.custody,
      v.current_kek_version,
      v.cmek_fingerprint,
      owner?.kind ?? null,
      owner?.api_version ?? null,
      owner?.namespace ?? null,
      owner?.name ?? null,
      owner?.uid ?? null,
    ],
  )) as VaultRow;
}

/**
 * Records the owner of a vault that has none; returns undefined when the vault is gone or
 * already has an owner (an owner, once recorded, never changes).
 */
export async function recordOwner(
  db: Queryable,
  orgId: string,
  id: string,
  owner: VaultOwner,
): Promise<VaultRow | undefined> {
  return queryRow<VaultRow>(
    db,
    `UPDATE vaults SET owner_kind = $3, owner_api_version = $4, owner_namespace = $5, owner_name = $6,
            owner_uid = $7, updated_at = now()
      WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL AND owner_uid IS NULL RETURNING *`,
    [id, orgId, owner.kind, owner.api_version, owner.namespace, owner.name, owner.uid],
  );
}

export async function insertKek(db: Queryable, vaultId: string, k: KekRow): Promise<void> {
  await query(
    db,
    'INSERT INTO vault_keks (vault_id, version, wrapped_kek, kms_backend, kms_key_id) VALUES ($1, $2, $3, $4, $5)',
    [vaultId, k.version, k.wrapped_kek, k.kms_backend, k.kms_key_id],
  );
}

/** The KEK version new writes in the vault use. */
export async function setCurrentKekVersion(db: Queryable, id: string, version: number): Promise<void> {
  await query(db, 'UPDATE vaults SET current_kek_version = $2, updated_at = now() WHERE id = $1', [
    id,
    version,
  ]);
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
  return queryRow<VaultRow>(
    db,
    `SELECT * FROM vaults WHERE id = $1 AND org_id = $2${opts.includeDeleted ? '' : ' AND deleted_at IS NULL'}${lock}`,
    [id, orgId],
  );
}

export async function listVaults(
  db: Queryable,
  orgId: string,
  opts: { ownerUid?: string | undefined } = {},
): Promise<VaultRow[]> {
  return queryRows<VaultRow>(
    db,
    `SELECT * FROM vaults WHERE org_id = $1 AND deleted_at IS NULL${opts.ownerUid ? ' AND owner_uid = $2' : ''}
      ORDER BY name`,
    opts.ownerUid ? [orgId, opts.ownerUid] : [orgId],
  );
}

export async function getKeks(db: Queryable, vaultId: string): Promise<KekRow[]> {
  return queryRows<KekRow>(
    db,
    'SELECT version, wrapped_kek, kms_backend, kms_key_id FROM vault_keks WHERE vault_id = $1 ORDER BY version',
    [vaultId],
  );
}

export async function updateVault(
  db: Queryable,
  orgId: string,
  id: string,
  patch: { name?: string | undefined; description?: string | undefined },
): Promise<VaultRow | undefined> {
  return queryRow<VaultRow>(
    db,
    `UPDATE vaults SET name = COALESCE($3, name), description = COALESCE($4, description), updated_at = now()
      WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL RETURNING *`,
    [id, orgId, patch.name ?? null, patch.description ?? null],
  );
}

export async function softDeleteVault(db: Queryable, id: string): Promise<void> {
  await query(db, 'UPDATE vaults SET deleted_at = now(), updated_at = now() WHERE id = $1', [id]);
}

/** Crypto-shredding: every KEK of the vault is destroyed. */
export async function destroyKeks(db: Queryable, vaultId: string): Promise<void> {
  await query(
    db,
    'UPDATE vault_keks SET wrapped_kek = NULL, destroyed_at = now() WHERE vault_id = $1 AND wrapped_kek IS NOT NULL',
    [vaultId],
  );
}

/** The customer-managed key new writes must use; null turns CMEK off. */
export async function setCmekFingerprint(
  db: Queryable,
  id: string,
  fingerprint: string | null,
): Promise<void> {
  await query(db, 'UPDATE vaults SET cmek_fingerprint = $2, updated_at = now() WHERE id = $1', [
    id,
    fingerprint,
  ]);
}

/** A KEK version re-wrapped by another KMS key; the KEK material itself is unchanged. */
export async function rewrapKekVersion(
  db: Queryable,
  vaultId: string,
  version: number,
  k: { wrapped_kek: Buffer; kms_backend: string; kms_key_id: string },
): Promise<void> {
  await query(
    db,
    'UPDATE vault_keks SET wrapped_kek = $3, kms_backend = $4, kms_key_id = $5 WHERE vault_id = $1 AND version = $2',
    [vaultId, version, k.wrapped_kek, k.kms_backend, k.kms_key_id],
  );
}

/** Records the KMS key of the org's vaults (or one of them); returns the ids that changed. */
export async function setKmsKeyUri(
  db: Queryable,
  orgId: string,
  vaultId: string | null,
  kmsKeyUri: string,
): Promise<string[]> {
  const { rows } = await query<{ id: string }>(
    db,
    `UPDATE vaults SET kms_key_uri = $3, updated_at = now()
      WHERE org_id = $1 AND ($2::uuid IS NULL OR id = $2) AND kms_key_uri <> $3 RETURNING id`,
    [orgId, vaultId, kmsKeyUri],
  );
  return rows.map((r) => r.id);
}
