// The change feed's storage: one row per change, in the transaction of the change, and a
// NOTIFY that PostgreSQL delivers only when that transaction commits. Readers resume from the
// last id they saw, so a reconnect misses nothing; NOTIFY only tells them when to look.
import { type Queryable, query } from '../../db/pool.js';

export const EVENTS_CHANNEL = 'oneclaw_vault_events';

export type VaultEventKind =
  | 'vault.created'
  | 'vault.deleted'
  | 'vault.kek_rotated'
  | 'secret.written'
  | 'secret.deleted'
  | 'secret.destroyed'
  // A CMEK rotation re-encrypted the stored value of this version under the new customer key.
  | 'secret.reencrypted';

export interface VaultEvent {
  id: string;
  vault_id: string;
  kind: VaultEventKind;
  path: string | null;
  version: number | null;
  created_at: string;
}

export async function recordEvent(
  tx: Queryable,
  e: { vaultId: string; kind: VaultEventKind; path?: string; version?: number },
): Promise<void> {
  await query(
    tx,
    `WITH ev AS (
       INSERT INTO vault_events (vault_id, kind, path, version) VALUES ($1, $2, $3, $4) RETURNING id
     )
     SELECT pg_notify($5, $1 || ':' || id) FROM ev`,
    [e.vaultId, e.kind, e.path ?? null, e.version ?? null, EVENTS_CHANNEL],
  );
}

export async function listEvents(
  db: Queryable,
  vaultId: string,
  after: string,
  limit: number,
): Promise<VaultEvent[]> {
  const { rows } = await query<Omit<VaultEvent, 'created_at'> & { created_at: Date }>(
    db,
    'SELECT id::text AS id, vault_id, kind, path, version, created_at FROM vault_events WHERE vault_id = $1 AND id > $2 ORDER BY vault_events.id LIMIT $3',
    [vaultId, after, limit],
  );
  return rows.map((r) => ({ ...r, created_at: r.created_at.toISOString() }));
}
