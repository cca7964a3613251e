// The engine every re-wrap job runs on (KEK rotation, `kms migrate`, CMEK rotation). A job is a
// row in `jobs` held by one runner through a lease. Work happens in batches: each batch is one
// transaction that locks its rows, re-wraps them, and records its progress, and recording the
// progress is what renews the lease. A runner whose lease was taken over finds out there, and
// its batch rolls back, so two runners never both commit work on one job. A crashed runner
// leaves its lease to expire; whoever continues the job selects only rows still to do, so
// nothing is done twice or skipped.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { backoffDelay, EQUAL_JITTER } from '../../../../common/src/backoff.js';
import { KmsUnavailableError } from '../../crypto/errors.js';
import {
  DatabaseUnavailableError,
  type Queryable,
  SerializationError,
  withTransaction,
} from '../../db/pool.js';
import { appendAudit } from '../audit/audit-service.js';
import { finishJob, type JobRow, recordProgress } from './job-store.js';

/** Rows per batch: small enough for a short transaction, large enough to amortise a commit. */
export const BATCH = 100;

/** Failures that may pass by themselves: the job is not failed for them. */
export function isTransient(err: unknown): boolean {
  return (
    err instanceof KmsUnavailableError ||
    err instanceof DatabaseUnavailableError ||
    err instanceof SerializationError
  );
}

/** Another runner holds the job now; the batch that found out rolls back. */
export class LeaseLost extends Error {
  override name = 'LeaseLost';
}

export interface BatchResult {
  processed: number;
  /** False when the job is complete (and recorded as succeeded). */
  more: boolean;
  /** False when the lease was lost to another runner: stop without finishing. */
  ownsLease: boolean;
}

/** Runs one batch of a job as `owner`, extending the lease to `leaseMs` from now. */
export type JobHandler = (job: JobRow, owner: string, leaseMs: number) => Promise<BatchResult>;

/**
 * What a re-wrap job is: what a batch selects and how one row is re-wrapped. `Ctx` is read once
 * per batch, in its transaction (the vault and its keys); `Done` is a re-wrapped row waiting
 * for `write`, so a batch's rows are stored together.
 */
export interface RewrapJob<Row, Done, Ctx> {
  /** Reads what every row of the batch needs; throws when the job can no longer run. */
  prepare(tx: pg.PoolClient, job: JobRow): Promise<Ctx>;
  /** Locks up to `limit` rows still to re-wrap. */
  select(tx: pg.PoolClient, job: JobRow, ctx: Ctx, limit: number): Promise<Row[]>;
  /** Re-wraps one row; undefined leaves it as it is. */
  rewrap(tx: pg.PoolClient, ctx: Ctx, row: Row): Promise<Done | undefined>;
  /** Stores the batch's re-wrapped rows. */
  write(tx: pg.PoolClient, job: JobRow, ctx: Ctx, done: Done[], rows: Row[]): Promise<void>;
  /** Whether rows are left once this batch commits. */
  more(tx: pg.PoolClient, job: JobRow, ctx: Ctx, selected: number): Promise<boolean>;
  /** Runs in the last batch's transaction (the audit record of the whole job). */
  finish(tx: pg.PoolClient, job: JobRow, ctx: Ctx): Promise<void>;
}

/**
 * `more` for jobs whose batches skip locked rows: a short batch may have passed over rows a
 * writer holds, so only an exact count of what is left says the job is done.
 */
export async function fullOrLeft(selected: number, left: () => Promise<number>): Promise<boolean> {
  return selected === BATCH || (await left()) > 0;
}

/** The audit record of a job's end: the system acted, on behalf of no request. */
export function auditJobDone(
  tx: Queryable,
  job: JobRow,
  action: string,
  vaultId: string | null,
  details: Record<string, string | number | boolean>,
): Promise<void> {
  return appendAudit(tx, {
    orgId: job.org_id,
    actor: 'system',
    action,
    decision: 'allow',
    ...(vaultId ? { vaultId } : {}),
    details: { job_id: job.id, ...details },
  });
}

/** One batch of `def` per call, in one transaction with its progress; the last one ends the job. */
export function batchHandler<Row, Done, Ctx>(pool: pg.Pool, def: RewrapJob<Row, Done, Ctx>): JobHandler {
  return (job, owner, leaseMs) =>
    withTransaction(pool, async (tx) => {
      const ctx = await def.prepare(tx, job);
      const rows = await def.select(tx, job, ctx, BATCH);
      const done: Done[] = [];
      for (const row of rows) {
        const next = await def.rewrap(tx, ctx, row);
        if (next !== undefined) done.push(next);
      }
      await def.write(tx, job, ctx, done, rows);
      if (!(await recordProgress(tx, job.id, owner, rows.length, leaseMs))) throw new LeaseLost();
      const more = await def.more(tx, job, ctx, rows.length);
      if (!more) {
        await def.finish(tx, job, ctx);
        // In the same commit as the last batch: a job is never done without being marked so.
        await finishJob(tx, job.id, owner, 'succeeded');
      }
      return { processed: rows.length, more, ownsLease: true };
    }).catch((err: unknown) => {
      if (err instanceof LeaseLost) return { processed: 0, more: true, ownsLease: false };
      throw err;
    });
}

export interface RunOptions {
  pool: pg.Pool;
  owner: string;
  leaseMs: number;
  logger: Logger;
  /** Checked before each batch: true lets the lease expire so the job can be resumed. */
  stopping: () => boolean;
  /**
   * What a transient failure does: `release` stops here and leaves the job to whichever runner
   * claims it once the lease has expired; `retry` tries again here with backoff, for a job that
   * can run only where it is (its keys are in this process's memory).
   */
  onTransient: 'release' | 'retry';
  /** The error recorded on a failed job; the default is the error's message. */
  failure?: (err: unknown) => string;
}

const RETRY = { baseMs: 250, maxMs: 5_000, jitter: EQUAL_JITTER };
/** A batch that found only rows writers hold: give the writers a moment. */
const LOCKED_PAUSE_MS = 200;

/** Runs a job this runner holds the lease of, batch after batch, until it ends or is let go. */
export async function runJob(job: JobRow, handler: JobHandler, opts: RunOptions): Promise<void> {
  const log = opts.logger.child({ job_id: job.id, kind: job.kind, vault_id: job.vault_id });
  log.info({ processed: job.processed, total: job.total }, 'job running');
  let retries = 0;
  while (!opts.stopping()) {
    try {
      const r = await handler(job, opts.owner, opts.leaseMs);
      if (!r.ownsLease) return log.warn('job lease lost to another runner');
      if (!r.more) return log.info('job succeeded');
      if (r.processed === 0) await sleep(LOCKED_PAUSE_MS);
      retries = 0;
    } catch (err) {
      const message = (err as Error).message;
      if (isTransient(err) && opts.onTransient === 'release')
        return log.warn({ err: message }, 'job paused: dependency unavailable; will resume');
      if (isTransient(err)) {
        // The lease keeps the job ours if the dependency answers again before it runs out.
        log.warn({ err: message }, 'job paused: dependency unavailable; retrying');
        await sleep(backoffDelay(retries++, RETRY));
        continue;
      }
      log.error({ err: message }, 'job failed');
      const recorded = opts.failure ? opts.failure(err) : message;
      await finishJob(opts.pool, job.id, opts.owner, 'failed', recorded).catch(() => {});
      return;
    }
  }
}
