// The change feed's storage: one row per change, in the transaction of the change, and a
// NOTIFY that PostgreSQL delivers only when that transaction commits. Readers resume from the
// last id they saw, so a reconnect misses nothing; NOTIFY only tells them when to look.
import type { VaultEventKind, VaultEvent as WireVaultEvent } from '../../../../contract/src/events.js';
import { type Queryable, query, queryRows } from '../../db/pool.js';

export const EVENTS_CHANNEL = 'oneclaw_vault_events';

/** An event as stored: the wire shape, with a kind this server emits. */
export interface VaultEvent extends WireVaultEvent {
  kind: VaultEventKind;
}

export interface NewVaultEvent {
  vaultId: string;
  kind: VaultEventKind;
  path?: string;
  version?: number;
}

export async function recordEvent(tx: Queryable, e: NewVaultEvent): Promise<void> {
  await recordEvents(tx, [e]);
}

/** Many changes in one statement (a rotation batch), each with its own row and NOTIFY. */
export async function recordEvents(tx: Queryable, events: NewVaultEvent[]): Promise<void> {
  if (!events.length) return;
  await query(
    tx,
    `WITH ev AS (
       INSERT INTO vault_events (vault_id, kind, path, version)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[])
       RETURNING id, vault_id
     )
     SELECT pg_notify($5, ev.vault_id || ':' || ev.id) FROM ev`,
    [
      events.map((e) => e.vaultId),
      events.map((e) => e.kind),
      events.map((e) => e.path ?? null),
      events.map((e) => e.version ?? null),
      EVENTS_CHANNEL,
    ],
  );
}

export async function listEvents(
  db: Queryable,
  vaultId: string,
  after: string,
  limit: number,
): Promise<VaultEvent[]> {
  const rows = await queryRows<Omit<VaultEvent, 'created_at'> & { created_at: Date }>(
    db,
    'SELECT id::text AS id, vault_id, kind, path, version, created_at FROM vault_events WHERE vault_id = $1 AND id > $2 ORDER BY vault_events.id LIMIT $3',
    [vaultId, after, limit],
  );
  return rows.map((r) => ({ ...r, created_at: r.created_at.toISOString() }));
}
