// The audit log: append-only and hash-chained per org. Each record's hash covers the previous
// record's hash and every field of its own, so editing, deleting or reordering any record
// breaks the chain from that point on, which `verifyChain` finds.
//
// Appends happen inside the caller's transaction (the change and its record commit together)
// under a per-org transaction-scoped advisory lock, so the chain is linear under concurrency.
// Records never carry secret values, keys or tokens: only who, what, where and the decision.
import { createHash } from 'node:crypto';
import { type Queryable, query } from '../../db/pool.js';

export interface AuditEntry {
  orgId: string;
  actor: string;
  action: string;
  decision: 'allow' | 'deny';
  vaultId?: string | undefined;
  path?: string | undefined;
  version?: number | undefined;
  reason?: string | undefined;
  requestId?: string | undefined;
  details?: Record<string, string | number | boolean> | undefined;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'details'>> {
  seq: string;
  at: string;
  details: Record<string, string | number | boolean>;
  prevHash: string;
  hash: string;
}

const GENESIS: Buffer = Buffer.alloc(32);

interface Row {
  seq: string;
  org_id: string;
  at: Date;
  actor: string;
  action: string;
  vault_id: string | null;
  path: string | null;
  version: number | null;
  decision: 'allow' | 'deny';
  reason: string | null;
  request_id: string | null;
  details: Record<string, string | number | boolean>;
  prev_hash: Buffer;
  hash: Buffer;
}

/** The canonical bytes a record's hash covers: fixed field order, JSON with sorted detail keys. */
function canonical(r: Omit<Row, 'seq' | 'hash'>): string {
  const details = Object.fromEntries(Object.entries(r.details ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
  return JSON.stringify([
    r.org_id,
    r.at.toISOString(),
    r.actor,
    r.action,
    r.vault_id,
    r.path,
    r.version,
    r.decision,
    r.reason,
    r.request_id,
    details,
  ]);
}

function chainHash(prev: Buffer, r: Omit<Row, 'seq' | 'hash'>): Buffer {
  return createHash('sha256').update(prev).update(canonical(r)).digest();
}

/** Appends one record inside the caller's transaction. */
export async function appendAudit(tx: Queryable, entry: AuditEntry): Promise<void> {
  await query(tx, 'SELECT pg_advisory_xact_lock(hashtextextended($1, 7265))', [entry.orgId]);
  const last = await query<{ hash: Buffer; at: Date }>(
    tx,
    'SELECT hash, at FROM audit_events WHERE org_id = $1 ORDER BY seq DESC LIMIT 1',
    [entry.orgId],
  );
  const prev = last.rows[0]?.hash ?? GENESIS;
  // Millisecond precision (what the hash covers) and never before the previous record.
  const now = new Date(Math.max(Date.now(), last.rows[0]?.at.getTime() ?? 0));
  const row = {
    org_id: entry.orgId,
    at: now,
    actor: entry.actor,
    action: entry.action,
    vault_id: entry.vaultId ?? null,
    path: entry.path ?? null,
    version: entry.version ?? null,
    decision: entry.decision,
    reason: entry.reason ?? null,
    request_id: entry.requestId ?? null,
    details: entry.details ?? {},
    prev_hash: prev,
  };
  await query(
    tx,
    `INSERT INTO audit_events (org_id, at, actor, action, vault_id, path, version, decision, reason, request_id, details, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      row.org_id,
      row.at,
      row.actor,
      row.action,
      row.vault_id,
      row.path,
      row.version,
      row.decision,
      row.reason,
      row.request_id,
      JSON.stringify(row.details),
      prev,
      chainHash(prev, row),
    ],
  );
}

function toRecord(r: Row): AuditRecord {
  return {
    seq: r.seq,
    orgId: r.org_id,
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action,
    decision: r.decision,
    vaultId: r.vault_id as string,
    path: r.path as string,
    version: r.version as number,
    reason: r.reason as string,
    requestId: r.request_id as string,
    details: r.details,
    prevHash: r.prev_hash.toString('hex'),
    hash: r.hash.toString('hex'),
  };
}

export async function listAudit(
  db: Queryable,
  opts: { orgId: string; vaultId?: string | undefined; after?: string | undefined; limit: number },
): Promise<AuditRecord[]> {
  const { rows } = await query<Row>(
    db,
    `SELECT * FROM audit_events
      WHERE org_id = $1 AND ($2::uuid IS NULL OR vault_id = $2) AND seq > $3
      ORDER BY seq LIMIT $4`,
    [opts.orgId, opts.vaultId ?? null, opts.after ?? '0', opts.limit],
  );
  return rows.map(toRecord);
}

export interface ChainVerdict {
  ok: boolean;
  checked: number;
  /** The first record whose link or content does not verify, if any. */
  brokenAt?: string;
  reason?: string;
}

/** Walks an org's chain from the start; any edited, deleted or inserted record breaks it. */
export async function verifyChain(db: Queryable, orgId: string, batch = 1_000): Promise<ChainVerdict> {
  let prev: Buffer = GENESIS;
  let after = '0';
  let checked = 0;
  for (;;) {
    const { rows } = await query<Row>(
      db,
      'SELECT * FROM audit_events WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [orgId, after, batch],
    );
    for (const r of rows) {
      if (!r.prev_hash.equals(prev))
        return { ok: false, checked, brokenAt: r.seq, reason: 'link to previous record broken' };
      if (!chainHash(prev, r).equals(r.hash))
        return { ok: false, checked, brokenAt: r.seq, reason: 'record content altered' };
      prev = r.hash;
      after = r.seq;
      checked++;
    }
    if (rows.length < batch) return { ok: true, checked };
  }
}
