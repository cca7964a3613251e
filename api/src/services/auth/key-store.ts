// API key rows shared by users and agents: issue (the key is returned once, only its hash is
// stored), look up and revoke. Callers own the transaction and the cache invalidation.
import { randomUUID } from 'node:crypto';
import { type Queryable, query, queryRow } from '../../db/pool.js';
import { generateApiKey, hashApiKey, type KeyKind, parseApiKey } from './api-keys.js';

export async function issueApiKey(
  tx: Queryable,
  orgId: string,
  kind: KeyKind,
  principalId: string,
): Promise<string> {
  const key = generateApiKey(kind);
  await storeApiKey(tx, orgId, kind, principalId, key);
  return key;
}

/** Records a key the caller already has (the bootstrap admin key may come from configuration). */
export async function storeApiKey(
  tx: Queryable,
  orgId: string,
  kind: KeyKind,
  principalId: string,
  key: string,
): Promise<void> {
  const parsed = parseApiKey(key);
  if (parsed?.kind !== kind) throw new Error(`not a ${kind} API key`);
  await query(
    tx,
    `INSERT INTO api_keys (id, org_id, principal_type, principal_id, lookup, key_hash)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [randomUUID(), orgId, kind, principalId, parsed.lookup, await hashApiKey(key)],
  );
}

export interface ApiKeyRow {
  id: string;
  org_id: string;
  principal_id: string;
  key_hash: Buffer;
}

/** The key with this lookup part, unless it is revoked or expired. */
export function findActiveKey(db: Queryable, lookup: string, kind: KeyKind): Promise<ApiKeyRow | undefined> {
  return queryRow<ApiKeyRow>(
    db,
    `SELECT id, org_id, principal_id, key_hash FROM api_keys
      WHERE lookup = $1 AND principal_type = $2 AND revoked_at IS NULL
        AND (expires_at IS NULL OR expires_at > now())`,
    [lookup, kind],
  );
}

/** Rotation: every key of the principal is revoked and a new one issued (returned once). */
export async function replaceApiKeys(
  tx: Queryable,
  orgId: string,
  kind: KeyKind,
  principalId: string,
): Promise<string> {
  await revokeApiKeys(tx, principalId);
  return issueApiKey(tx, orgId, kind, principalId);
}

export async function revokeApiKeys(tx: Queryable, principalId: string): Promise<void> {
  await query(tx, 'UPDATE api_keys SET revoked_at = now() WHERE principal_id = $1 AND revoked_at IS NULL', [
    principalId,
  ]);
}
