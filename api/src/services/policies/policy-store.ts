// SQL for grants. Stores take a Queryable (the pool or a transaction); services own transactions.
import type { Permission, PolicyConditions, PrincipalType } from '../../../../contract/src/policies.js';
import { type Queryable, queryRow, queryRows } from '../../db/pool.js';

export interface PolicyRow {
  id: string;
  org_id: string;
  vault_id: string;
  principal_type: PrincipalType;
  principal_id: string;
  secret_path_pattern: string;
  permissions: Permission[];
  conditions: PolicyConditions;
  expires_at: Date | null;
  created_by: string;
  created_at: Date;
}

export async function insertPolicy(tx: Queryable, row: Omit<PolicyRow, 'created_at'>): Promise<PolicyRow> {
  return (await queryRow<PolicyRow>(
    tx,
    `INSERT INTO policies (id, org_id, vault_id, principal_type, principal_id, secret_path_pattern,
                           permissions, conditions, expires_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
    [
      row.id,
      row.org_id,
      row.vault_id,
      row.principal_type,
      row.principal_id,
      row.secret_path_pattern,
      row.permissions,
      JSON.stringify(row.conditions),
      row.expires_at,
      row.created_by,
    ],
  )) as PolicyRow;
}

export async function listPolicies(db: Queryable, vaultId: string): Promise<PolicyRow[]> {
  return queryRows<PolicyRow>(db, 'SELECT * FROM policies WHERE vault_id = $1 ORDER BY created_at, id', [
    vaultId,
  ]);
}

export async function deletePolicy(
  tx: Queryable,
  vaultId: string,
  id: string,
): Promise<PolicyRow | undefined> {
  return queryRow<PolicyRow>(tx, 'DELETE FROM policies WHERE vault_id = $1 AND id = $2 RETURNING *', [
    vaultId,
    id,
  ]);
}

/** Every grant a principal holds in its org, for listing the vaults it can see. */
export async function policiesOfPrincipal(
  db: Queryable,
  orgId: string,
  type: PrincipalType,
  principalId: string,
): Promise<PolicyRow[]> {
  return queryRows<PolicyRow>(
    db,
    `SELECT p.* FROM policies p JOIN vaults v ON v.id = p.vault_id AND v.deleted_at IS NULL
      WHERE p.org_id = $1 AND p.principal_type = $2 AND p.principal_id = $3`,
    [orgId, type, principalId],
  );
}

/** Removes a deleted agent's grants; returns what was removed (one row per grant). */
export async function deletePoliciesOfPrincipal(
  tx: Queryable,
  orgId: string,
  type: PrincipalType,
  principalId: string,
): Promise<Array<{ id: string; vault_id: string }>> {
  return queryRows<{ id: string; vault_id: string }>(
    tx,
    'DELETE FROM policies WHERE org_id = $1 AND principal_type = $2 AND principal_id = $3 RETURNING id, vault_id',
    [orgId, type, principalId],
  );
}
