// SQL for the organization and the auth-invalidation channel. Functions take a Queryable so
// services decide the transaction.
import { type Queryable, query, queryRow } from '../../db/pool.js';

export const AUTH_CHANNEL = 'oneclaw_auth';

/** The org workloads (Kubernetes service accounts) belong to: the first one made. */
export async function firstOrgId(db: Queryable): Promise<string | undefined> {
  return (await queryRow<{ id: string }>(db, 'SELECT id FROM orgs ORDER BY created_at, id LIMIT 1'))?.id;
}

/**
 * Serializes bootstraps until the transaction ends, so replicas starting together do not each
 * create an org.
 */
export async function lockBootstrap(tx: Queryable): Promise<void> {
  await query(tx, 'SELECT pg_advisory_xact_lock(7265001)');
}

export async function anyOrgExists(db: Queryable): Promise<boolean> {
  return (await queryRow(db, 'SELECT 1 FROM orgs LIMIT 1')) !== undefined;
}

export async function insertOrg(tx: Queryable, id: string, name: string): Promise<void> {
  await query(tx, 'INSERT INTO orgs (id, name) VALUES ($1, $2)', [id, name]);
}

/** Delivered to every replica's LISTEN connection when the transaction commits. */
export async function notifyAuthChange(tx: Queryable, payload: string): Promise<void> {
  await query(tx, 'SELECT pg_notify($1, $2)', [AUTH_CHANNEL, payload]);
}
