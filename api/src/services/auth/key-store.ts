// API key rows shared by users and agents: issue (the key is returned once, only its hash is
// stored) and revoke. Callers own the transaction and the cache invalidation.
import { randomUUID } from 'node:crypto';
import { type Queryable, query } from '../../db/pool.js';
import { generateApiKey, hashApiKey, type KeyKind, parseApiKey } from './api-keys.js';

export async function issueApiKey(
  tx: Queryable,
  orgId: string,
  kind: KeyKind,
  principalId: string,
): Promise<string> {
  const key = generateApiKey(kind);
  const parsed = parseApiKey(key);
  if (!parsed) throw new Error('generated an unparsable API key');
  await query(
    tx,
    `INSERT INTO api_keys (id, org_id, principal_type, principal_id, lookup, key_hash)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [randomUUID(), orgId, kind, principalId, parsed.lookup, await hashApiKey(key)],
  );
  return key;
}

export async function revokeApiKeys(tx: Queryable, principalId: string): Promise<void> {
  await query(tx, 'UPDATE api_keys SET revoked_at = now() WHERE principal_id = $1 AND revoked_at IS NULL', [
    principalId,
  ]);
}
