// SQL for users. Functions take a Queryable so services decide the transaction.
import type { Role } from '../../../../contract/src/users.js';
import { type Queryable, queryRow, queryRows } from '../../db/pool.js';

export interface UserRow {
  id: string;
  org_id: string;
  name: string;
  role: Role;
  disabled_at: Date | null;
  created_at: Date;
}

/** The user, locked for the rest of the transaction. */
export function lockUser(tx: Queryable, orgId: string, id: string): Promise<UserRow | undefined> {
  return queryRow<UserRow>(tx, 'SELECT * FROM users WHERE id = $1 AND org_id = $2 FOR UPDATE', [id, orgId]);
}

export async function insertUser(
  tx: Queryable,
  u: { id: string; org_id: string; name: string; role: Role },
): Promise<UserRow> {
  return (await queryRow<UserRow>(
    tx,
    'INSERT INTO users (id, org_id, name, role) VALUES ($1, $2, $3, $4) RETURNING *',
    [u.id, u.org_id, u.name, u.role],
  )) as UserRow;
}

export function listUsers(db: Queryable, orgId: string): Promise<UserRow[]> {
  return queryRows<UserRow>(db, 'SELECT * FROM users WHERE org_id = $1 ORDER BY name', [orgId]);
}

/** Changes the role and the disabled state; a field left undefined keeps its value. */
export async function updateUser(
  tx: Queryable,
  id: string,
  patch: { role?: Role | undefined; disabled?: boolean | undefined },
): Promise<UserRow> {
  return (await queryRow<UserRow>(
    tx,
    `UPDATE users SET role = COALESCE($2, role),
            disabled_at = CASE WHEN $3::boolean IS NULL THEN disabled_at
                               WHEN $3 THEN COALESCE(disabled_at, now()) ELSE NULL END
      WHERE id = $1 RETURNING *`,
    [id, patch.role ?? null, patch.disabled ?? null],
  )) as UserRow;
}

/** The role of a user who is not disabled; undefined otherwise. */
export async function activeUserRole(db: Queryable, orgId: string, id: string): Promise<Role | undefined> {
  const row = await queryRow<{ role: Role }>(
    db,
    'SELECT role FROM users WHERE id = $1 AND org_id = $2 AND disabled_at IS NULL',
    [id, orgId],
  );
  return row?.role;
}

/**
 * For a user who is not disabled and whose API key `keyId` is neither revoked nor expired: the
 * user's role. Undefined otherwise.
 */
export function activeUserWithKey(
  db: Queryable,
  orgId: string,
  id: string,
  keyId: string,
): Promise<{ role: Role } | undefined> {
  return queryRow<{ role: Role }>(
    db,
    `SELECT u.role FROM users u
      WHERE u.id = $1 AND u.org_id = $2 AND u.disabled_at IS NULL
        AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = $3 AND k.principal_id = u.id
                      AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()))`,
    [id, orgId, keyId],
  );
}

export async function userExists(db: Queryable, orgId: string, id: string): Promise<boolean> {
  return (await queryRow(db, 'SELECT 1 FROM users WHERE id = $1 AND org_id = $2', [id, orgId])) !== undefined;
}
