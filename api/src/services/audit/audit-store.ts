// SQL for the audit log. Functions take a Queryable so services decide the transaction; the
// hash chain itself is computed in audit-service.ts.
import type { Decision } from '../../../../contract/src/audit.js';
import { prepared, type Queryable, query, queryRow, queryRows } from '../../db/pool.js';

export interface AuditRow {
  seq: string;
  chain_seq: string | null;
  org_id: string;
  at: Date;
  actor: string;
  action: string;
  vault_id: string | null;
  path: string | null;
  version: number | null;
  decision: Decision;
  reason: string | null;
  request_id: string | null;
  details: Record<string, string | number | boolean>;
  prev_hash: Buffer | null;
  hash: Buffer | null;
}

/** A record sealed into its org's chain. */
export type ChainedRow = AuditRow & { chain_seq: string; prev_hash: Buffer; hash: Buffer };

export type NewAuditRow = Omit<AuditRow, 'seq' | 'chain_seq' | 'prev_hash' | 'hash'>;

export async function insertAuditRow(tx: Queryable, r: NewAuditRow): Promise<void> {
  await insertAuditRows(tx, [r]);
}

const INSERT_AUDIT_ROWS = prepared(
  'insert-audit-rows',
  `INSERT INTO audit_events (org_id, at, actor, action, vault_id, path, version, decision, reason, request_id, details)
     SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::uuid[], $6::text[],
                          $7::int[], $8::text[], $9::text[], $10::text[], $11::jsonb[])`,
);

/** Many records in one statement: with the pool as `db`, one commit makes them all durable. */
export async function insertAuditRows(db: Queryable, rows: NewAuditRow[]): Promise<void> {
  if (!rows.length) return;
  await query(db, INSERT_AUDIT_ROWS, [
    rows.map((r) => r.org_id),
    rows.map((r) => r.at),
    rows.map((r) => r.actor),
    rows.map((r) => r.action),
    rows.map((r) => r.vault_id),
    rows.map((r) => r.path),
    rows.map((r) => r.version),
    rows.map((r) => r.decision),
    rows.map((r) => r.reason),
    rows.map((r) => r.request_id),
    rows.map((r) => JSON.stringify(r.details)),
  ]);
}

/** One sealer per org at a time, until the transaction ends. */
export async function lockOrgChain(tx: Queryable, orgId: string): Promise<void> {
  await query(tx, 'SELECT pg_advisory_xact_lock(hashtextextended($1, 7265))', [orgId]);
}

/** The same lock if it is free; false (and no lock) when another sealer holds it. */
export async function tryLockOrgChain(tx: Queryable, orgId: string): Promise<boolean> {
  const row = await queryRow<{ locked: boolean }>(
    tx,
    'SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7265)) AS locked',
    [orgId],
  );
  return row?.locked === true;
}

/** Committed records not yet in the chain, oldest first. */
export function unsealedRows(tx: Queryable, orgId: string, limit: number): Promise<AuditRow[]> {
  return queryRows<AuditRow>(
    tx,
    'SELECT * FROM audit_events WHERE org_id = $1 AND hash IS NULL ORDER BY seq LIMIT $2',
    [orgId, limit],
  );
}

/** The last sealed record of the org's chain; undefined while the chain is empty. */
export function chainHead(
  tx: Queryable,
  orgId: string,
): Promise<{ chain_seq: string; hash: Buffer } | undefined> {
  return queryRow<{ chain_seq: string; hash: Buffer }>(
    tx,
    `SELECT chain_seq, hash FROM audit_events
      WHERE org_id = $1 AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1`,
    [orgId],
  );
}

/** Writes the chain position and hashes of many records in one statement. */
export async function sealRows(
  tx: Queryable,
  seals: Array<{ seq: string; chainSeq: string; prevHash: Buffer; hash: Buffer }>,
): Promise<void> {
  await query(
    tx,
    `UPDATE audit_events a SET chain_seq = v.c, prev_hash = v.p, hash = v.h
       FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS v(s, c, p, h)
      WHERE a.seq = v.s`,
    [
      seals.map((s) => s.seq),
      seals.map((s) => s.chainSeq),
      seals.map((s) => s.prevHash),
      seals.map((s) => s.hash),
    ],
  );
}

export async function orgsWithUnsealedRows(db: Queryable): Promise<string[]> {
  const rows = await queryRows<{ org_id: string }>(
    db,
    'SELECT DISTINCT org_id FROM audit_events WHERE hash IS NULL',
  );
  return rows.map((r) => r.org_id);
}

/** Sealed records after chain position `after`, in chain order; only one vault's when given. */
export function listChainedRows(
  db: Queryable,
  opts: { orgId: string; vaultId?: string | undefined; after: string; limit: number },
): Promise<ChainedRow[]> {
  return queryRows<ChainedRow>(
    db,
    `SELECT * FROM audit_events
      WHERE org_id = $1 AND ($2::uuid IS NULL OR vault_id = $2) AND chain_seq > $3
      ORDER BY chain_seq LIMIT $4`,
    [opts.orgId, opts.vaultId ?? null, opts.after, opts.limit],
  );
}
