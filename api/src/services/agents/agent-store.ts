// SQL for agents. Functions take a Queryable so services decide the transaction. A deleted
// agent keeps its row (audit records name it) and is invisible to every read here.
import { type Queryable, query, queryRow, queryRows } from '../../db/pool.js';

export interface AgentRow {
  id: string;
  org_id: string;
  name: string;
  description: string;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  expires_at: Date | null;
  disabled_at: Date | null;
}

export function getAgent(
  db: Queryable,
  orgId: string,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<AgentRow | undefined> {
  return queryRow<AgentRow>(
    db,
    `SELECT * FROM agents WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id, orgId],
  );
}

export async function insertAgent(
  tx: Queryable,
  a: Pick<AgentRow, 'id' | 'org_id' | 'name' | 'description' | 'created_by' | 'expires_at'>,
): Promise<AgentRow> {
  return (await queryRow<AgentRow>(
    tx,
    `INSERT INTO agents (id, org_id, name, description, created_by, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [a.id, a.org_id, a.name, a.description, a.created_by, a.expires_at],
  )) as AgentRow;
}

export function listAgents(db: Queryable, orgId: string): Promise<AgentRow[]> {
  return queryRows<AgentRow>(
    db,
    'SELECT * FROM agents WHERE org_id = $1 AND deleted_at IS NULL ORDER BY name',
    [orgId],
  );
}

/** A field left undefined keeps its value; `expires_at: null` removes the expiry. */
export async function updateAgent(
  tx: Queryable,
  orgId: string,
  id: string,
  patch: {
    description?: string | undefined;
    disabled?: boolean | undefined;
    expires_at?: Date | null | undefined;
  },
): Promise<AgentRow> {
  return (await queryRow<AgentRow>(
    tx,
    `UPDATE agents SET
        description = COALESCE($3, description),
        disabled_at = CASE WHEN $4::boolean IS NULL THEN disabled_at
                           WHEN $4 THEN COALESCE(disabled_at, now()) ELSE NULL END,
        expires_at = CASE WHEN $5::boolean THEN $6::timestamptz ELSE expires_at END,
        updated_at = now()
      WHERE id = $1 AND org_id = $2 RETURNING *`,
    [
      id,
      orgId,
      patch.description ?? null,
      patch.disabled ?? null,
      patch.expires_at !== undefined,
      patch.expires_at ?? null,
    ],
  )) as AgentRow;
}

export async function softDeleteAgent(tx: Queryable, id: string): Promise<void> {
  await query(tx, 'UPDATE agents SET deleted_at = now(), updated_at = now() WHERE id = $1', [id]);
}

/** The agent is neither disabled, deleted nor expired. */
export async function isAgentActive(db: Queryable, orgId: string, id: string): Promise<boolean> {
  const row = await queryRow(
    db,
    `SELECT 1 FROM agents WHERE id = $1 AND org_id = $2 AND disabled_at IS NULL AND deleted_at IS NULL
        AND (expires_at IS NULL OR expires_at > now())`,
    [id, orgId],
  );
  return row !== undefined;
}

/**
 * For an agent that is neither disabled, deleted nor expired, and whose API key `keyId` is
 * neither revoked nor expired: when the agent expires (null: never). Undefined otherwise.
 */
export async function activeAgentWithKey(
  db: Queryable,
  orgId: string,
  id: string,
  keyId: string,
): Promise<{ expires_at: Date | null } | undefined> {
  return queryRow<{ expires_at: Date | null }>(
    db,
    `SELECT a.expires_at FROM agents a
      WHERE a.id = $1 AND a.org_id = $2 AND a.disabled_at IS NULL AND a.deleted_at IS NULL
        AND (a.expires_at IS NULL OR a.expires_at > now())
        AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = $3 AND k.principal_id = a.id
                      AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()))`,
    [id, orgId, keyId],
  );
}

export async function agentExists(db: Queryable, orgId: string, id: string): Promise<boolean> {
  const row = await queryRow(
    db,
    'SELECT 1 FROM agents WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL',
    [id, orgId],
  );
  return row !== undefined;
}
