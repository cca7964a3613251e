// SQL for CMEK rotations: the rotation jobs of a vault, and the versions still under a
// customer key. The vault's active key is written through the vault store.
import { type Queryable, query, queryRow, queryRows } from '../../db/pool.js';
import { JOB_COLUMNS as COLUMNS, type JobRow } from '../jobs/job-store.js';

export const CMEK_ROTATE = 'cmek-rotate';

/** The vault's newest rotation, locked so two requests cannot both start or resume one. */
export async function lockLatestRotation(tx: Queryable, vaultId: string): Promise<JobRow | undefined> {
  return queryRow<JobRow>(
    tx,
    `SELECT ${COLUMNS} FROM jobs WHERE vault_id = $1 AND kind = $2 ORDER BY created_at DESC LIMIT 1 FOR UPDATE`,
    [vaultId, CMEK_ROTATE],
  );
}

export async function getRotation(
  db: Queryable,
  orgId: string,
  vaultId: string,
  id: string,
): Promise<JobRow | undefined> {
  return queryRow<JobRow>(
    db,
    `SELECT ${COLUMNS} FROM jobs WHERE id = $1 AND org_id = $2 AND vault_id = $3 AND kind = $4`,
    [id, orgId, vaultId, CMEK_ROTATE],
  );
}

export async function listRotations(
  db: Queryable,
  orgId: string,
  vaultId: string,
  limit: number,
): Promise<JobRow[]> {
  return queryRows<JobRow>(
    db,
    `SELECT ${COLUMNS} FROM jobs WHERE org_id = $1 AND vault_id = $2 AND kind = $3
      ORDER BY created_at DESC LIMIT $4`,
    [orgId, vaultId, CMEK_ROTATE, limit],
  );
}

export async function countUnderKey(db: Queryable, vaultId: string, fingerprint: string): Promise<number> {
  const { rows } = await query<{ n: number }>(
    db,
    `SELECT count(*)::int AS n FROM secret_versions
      WHERE vault_id = $1 AND cmek_fingerprint = $2 AND destroyed_at IS NULL`,
    [vaultId, fingerprint],
  );
  return rows[0]?.n ?? 0;
}

export interface CmekVersionRow {
  secret_id: string;
  version: number;
  ciphertext: Buffer;
  wrapped_dek: Buffer;
  path: string;
}

/** Skips rows a writer holds: the writer is not kept waiting, and a later batch takes them. */
export async function lockUnderKey(
  tx: Queryable,
  vaultId: string,
  fingerprint: string,
  limit: number,
): Promise<CmekVersionRow[]> {
  return queryRows<CmekVersionRow>(
    tx,
    `SELECT v.secret_id, v.version, v.ciphertext, v.wrapped_dek, s.path
       FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
      WHERE v.vault_id = $1 AND v.cmek_fingerprint = $2 AND v.destroyed_at IS NULL
      ORDER BY v.secret_id, v.version LIMIT $3 FOR UPDATE OF v SKIP LOCKED`,
    [vaultId, fingerprint, limit],
  );
}
