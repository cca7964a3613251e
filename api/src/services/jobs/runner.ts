// Runs jobs in the background of every API replica. Each handler works in small committed
// batches and says whether anything is left; the runner keeps the lease alive through
// recordProgress. A failure that may pass (KMS or database unavailable) leaves the job to be
// retried when its lease expires; any other failure marks the job failed with a message.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { KmsUnavailableError } from '../../crypto/errors.js';
import { DatabaseUnavailableError, SerializationError } from '../../db/pool.js';
import { claimJob, finishJob, type JobRow } from './job-store.js';

export interface BatchResult {
  processed: number;
  /** False when the job is complete. */
  more: boolean;
  /** False when the lease was lost to another runner: stop without finishing. */
  ownsLease: boolean;
}

export type JobHandler = (job: JobRow, owner: string, leaseMs: number) => Promise<BatchResult>;

export interface JobRunner {
  start(): void;
  /** Stops claiming, lets the running batch finish, and returns. */
  stop(): Promise<void>;
  /** Wakes the runner now (a job was just created). */
  poke(): void;
}

export function createJobRunner(opts: {
  pool: pg.Pool;
  handlers: Record<string, JobHandler>;
  logger: Logger;
  leaseMs?: number;
  pollMs?: number;
  owner?: string;
}): JobRunner {
  const leaseMs = opts.leaseMs ?? 30_000;
  const pollMs = opts.pollMs ?? 2_000;
  const owner = opts.owner ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  const kinds = Object.keys(opts.handlers);
  let stopping = false;
  let wake: (() => void) | undefined;
  let loop: Promise<void> | undefined;

  const transient = (err: unknown) =>
    err instanceof KmsUnavailableError ||
    err instanceof DatabaseUnavailableError ||
    err instanceof SerializationError;

  async function runJob(job: JobRow): Promise<void> {
    const handler = opts.handlers[job.kind];
    if (!handler) return;
    const log = opts.logger.child({ job_id: job.id, kind: job.kind });
    log.info({ processed: job.processed, total: job.total }, 'job claimed');
    try {
      for (;;) {
        if (stopping) return; // the lease expires and another runner resumes
        const r = await handler(job, owner, leaseMs);
        if (!r.ownsLease) return log.warn('job lease lost to another runner');
        if (!r.more) {
          await finishJob(opts.pool, job.id, owner, 'succeeded');
          return log.info('job succeeded');
        }
      }
    } catch (err) {
      if (transient(err))
        return log.warn({ err: (err as Error).message }, 'job paused: dependency unavailable; will resume');
      log.error({ err: (err as Error).message }, 'job failed');
      await finishJob(opts.pool, job.id, owner, 'failed', (err as Error).message).catch(() => {});
    }
  }

  async function run(): Promise<void> {
    while (!stopping) {
      let job: JobRow | undefined;
      try {
        job = await claimJob(opts.pool, owner, kinds, leaseMs);
      } catch (err) {
        opts.logger.warn({ err: (err as Error).message }, 'job claim failed');
      }
      if (job) {
        await runJob(job);
        continue;
      }
      await Promise.race([sleep(pollMs * (0.5 + Math.random())), new Promise<void>((r) => (wake = r))]);
    }
  }

  return {
    start() {
      loop ??= run();
    },
    async stop() {
      stopping = true;
      wake?.();
      await loop;
    },
    poke() {
      wake?.();
    },
  };
}
