// The audit log: append-only and hash-chained per org. Each record's hash covers the previous
// record's hash and every field of its own, so editing, deleting or reordering any record
// breaks the chain from that point on, which `verifyChain` finds.
//
// Appends happen inside the caller's transaction (the change and its record commit together)
// and take no lock, so audited requests do not queue behind each other. Records are sealed into
// their org's chain shortly after commit by `sealAudit` — run by a background chainer in every
// replica (every 250 ms), one at a time per org under an advisory lock — and before any listing
// or verification. A record's chain position (`chain_seq`, the public `seq`) is the order in
// which it was sealed. Records never carry secret values, keys or tokens: only who, what, where
// and the decision.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type Queryable, query, withTransaction } from '../../db/pool.js';

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
  chain_seq: string | null;
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
  prev_hash: Buffer | null;
  hash: Buffer | null;
}

type ChainedRow = Row & { chain_seq: string; prev_hash: Buffer; hash: Buffer };

/** The canonical bytes a record's hash covers: fixed field order, JSON with sorted detail keys. */
function canonical(r: Omit<Row, 'seq' | 'chain_seq' | 'hash' | 'prev_hash'>): string {
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

function chainHash(prev: Buffer, r: Omit<Row, 'seq' | 'chain_seq' | 'hash' | 'prev_hash'>): Buffer {
  return createHash('sha256').update(prev).update(canonical(r)).digest();
}

/** Appends one record inside the caller's transaction; it is sealed into the chain after commit. */
export async function appendAudit(tx: Queryable, entry: AuditEntry): Promise<void> {
  await query(
    tx,
    `INSERT INTO audit_events (org_id, at, actor, action, vault_id, path, version, decision, reason, request_id, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      entry.orgId,
      // Millisecond precision: what the hash covers.
      new Date(),
      entry.actor,
      entry.action,
      entry.vaultId ?? null,
      entry.path ?? null,
      entry.version ?? null,
      entry.decision,
      entry.reason ?? null,
      entry.requestId ?? null,
      JSON.stringify(entry.details ?? {}),
    ],
  );
}

/** Seals an org's committed, unsealed records into its chain; returns how many. */
export async function sealAudit(pool: pg.Pool, orgId: string, batch = 1_000): Promise<number> {
  let sealed = 0;
  for (;;) {
    const n = await withTransaction(pool, async (tx) => {
      await query(tx, 'SELECT pg_advisory_xact_lock(hashtextextended($1, 7265))', [orgId]);
      const pending = await query<Row>(
        tx,
        'SELECT * FROM audit_events WHERE org_id = $1 AND hash IS NULL ORDER BY seq LIMIT $2',
        [orgId, batch],
      );
      if (!pending.rows.length) return 0;
      const last = await query<{ chain_seq: string; hash: Buffer }>(
        tx,
        `SELECT chain_seq, hash FROM audit_events
          WHERE org_id = $1 AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1`,
        [orgId],
      );
      let prev = last.rows[0]?.hash ?? GENESIS;
      let position = BigInt(last.rows[0]?.chain_seq ?? 0);
      const seqs: string[] = [];
      const positions: string[] = [];
      const prevs: Buffer[] = [];
      const hashes: Buffer[] = [];
      for (const r of pending.rows) {
        const hash = chainHash(prev, r);
        position++;
        seqs.push(r.seq);
        positions.push(position.toString());
        prevs.push(prev);
        hashes.push(hash);
        prev = hash;
      }
      await query(
        tx,
        `UPDATE audit_events a SET chain_seq = v.c, prev_hash = v.p, hash = v.h
           FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS v(s, c, p, h)
          WHERE a.seq = v.s`,
        [seqs, positions, prevs, hashes],
      );
      return pending.rows.length;
    });
    sealed += n;
    if (n < batch) return sealed;
  }
}

export interface AuditChainer {
  stop(): Promise<void>;
}

/** Seals every org's new records every `intervalMs` (in every replica; orgs are locked one at a time). */
export function startAuditChainer(deps: {
  pool: pg.Pool;
  logger: Logger;
  intervalMs?: number;
}): AuditChainer {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    const { rows } = await query<{ org_id: string }>(
      deps.pool,
      'SELECT DISTINCT org_id FROM audit_events WHERE hash IS NULL',
    );
    for (const { org_id } of rows) {
      if (stopped) return;
      await sealAudit(deps.pool, org_id);
    }
  };
  const timer = setInterval(() => {
    running = running
      .then(tick)
      .catch((err: unknown) =>
        deps.logger.warn(
          { err: { message: (err as Error).message } },
          'audit chainer: sealing failed; retrying',
        ),
      );
  }, deps.intervalMs ?? 250);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

function toRecord(r: ChainedRow): AuditRecord {
  return {
    seq: r.chain_seq,
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
  pool: pg.Pool,
  opts: { orgId: string; vaultId?: string | undefined; after?: string | undefined; limit: number },
): Promise<AuditRecord[]> {
  await sealAudit(pool, opts.orgId);
  const { rows } = await query<ChainedRow>(
    pool,
    `SELECT * FROM audit_events
      WHERE org_id = $1 AND ($2::uuid IS NULL OR vault_id = $2) AND chain_seq > $3
      ORDER BY chain_seq LIMIT $4`,
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
export async function verifyChain(pool: pg.Pool, orgId: string, batch = 1_000): Promise<ChainVerdict> {
  await sealAudit(pool, orgId);
  let prev: Buffer = GENESIS;
  let after = '0';
  let checked = 0;
  for (;;) {
    const { rows } = await query<ChainedRow>(
      pool,
      'SELECT * FROM audit_events WHERE org_id = $1 AND chain_seq > $2 ORDER BY chain_seq LIMIT $3',
      [orgId, after, batch],
    );
    for (const r of rows) {
      if (!r.prev_hash.equals(prev))
        return { ok: false, checked, brokenAt: r.chain_seq, reason: 'link to previous record broken' };
      if (!chainHash(prev, r).equals(r.hash))
        return { ok: false, checked, brokenAt: r.chain_seq, reason: 'record content altered' };
      prev = r.hash;
      after = r.chain_seq;
      checked++;
    }
    if (rows.length < batch) return { ok: true, checked };
  }
}
