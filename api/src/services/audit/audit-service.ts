// The audit log: append-only and hash-chained per org. Each record's hash covers the previous
// record's hash and every field of its own, so editing, deleting or reordering any record
// breaks the chain from that point on, which `verifyChain` finds.
//
// Appends happen inside the caller's transaction (the change and its record commit together),
// or, for a request that changes nothing else (a read, a denial), through the group-committing
// audit writer (audit-writer.ts); either way they take no lock, so audited requests do not queue behind each other. Records are sealed into
// their org's chain shortly after commit by `sealAudit` — run by a background chainer in every
// replica (every 250 ms), one at a time per org under an advisory lock — and before any listing
// or verification. A record's chain position (`chain_seq`, the public `seq`) is the order in
// which it was sealed. Records never carry secret values, keys or tokens: only who, what, where
// and the decision.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Decision } from '../../../../contract/src/audit.js';
import { type Queryable, withTransaction } from '../../db/pool.js';
import * as store from './audit-store.js';

export interface AuditEntry {
  orgId: string;
  actor: string;
  action: string;
  decision: Decision;
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

/** The canonical bytes a record's hash covers: fixed field order, JSON with sorted detail keys. */
function canonical(r: store.NewAuditRow): string {
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

function chainHash(prev: Buffer, r: store.NewAuditRow): Buffer {
  return createHash('sha256').update(prev).update(canonical(r)).digest();
}

/** The row a record is stored as, unsealed. */
export function auditRow(entry: AuditEntry): store.NewAuditRow {
  return {
    org_id: entry.orgId,
    // Millisecond precision: what the hash covers.
    at: new Date(),
    actor: entry.actor,
    action: entry.action,
    vault_id: entry.vaultId ?? null,
    path: entry.path ?? null,
    version: entry.version ?? null,
    decision: entry.decision,
    reason: entry.reason ?? null,
    request_id: entry.requestId ?? null,
    details: entry.details ?? {},
  };
}

/** Appends one record inside the caller's transaction; it is sealed into the chain after commit. */
export async function appendAudit(tx: Queryable, entry: AuditEntry): Promise<void> {
  await store.insertAuditRow(tx, auditRow(entry));
}

/**
 * Seals an org's committed, unsealed records into its chain; returns how many. With
 * `ifFree`, it leaves the work to a sealer already at it (another replica's background
 * chainer) instead of waiting for it: a listing must see everything sealed, a chainer need not.
 */
export async function sealAudit(
  pool: pg.Pool,
  orgId: string,
  opts: { batch?: number; ifFree?: boolean } = {},
): Promise<number> {
  const batch = opts.batch ?? 1_000;
  let sealed = 0;
  for (;;) {
    const n = await withTransaction(pool, async (tx) => {
      if (opts.ifFree) {
        if (!(await store.tryLockOrgChain(tx, orgId))) return 0;
      } else await store.lockOrgChain(tx, orgId);
      const pending = await store.unsealedRows(tx, orgId, batch);
      if (!pending.length) return 0;
      const head = await store.chainHead(tx, orgId);
      let prev = head?.hash ?? GENESIS;
      let position = BigInt(head?.chain_seq ?? 0);
      const seals = pending.map((r) => {
        const hash = chainHash(prev, r);
        position++;
        const seal = { seq: r.seq, chainSeq: position.toString(), prevHash: prev, hash };
        prev = hash;
        return seal;
      });
      await store.sealRows(tx, seals);
      return pending.length;
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
    for (const orgId of await store.orgsWithUnsealedRows(deps.pool)) {
      if (stopped) return;
      await sealAudit(deps.pool, orgId, { ifFree: true });
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

function toRecord(r: store.ChainedRow): AuditRecord {
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
  const rows = await store.listChainedRows(pool, { ...opts, after: opts.after ?? '0' });
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
    const rows = await store.listChainedRows(pool, { orgId, after, limit: batch });
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
