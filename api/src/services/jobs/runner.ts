// Runs jobs in the background of every API replica: claims the next runnable job (new, or left
// by a runner whose lease ran out) and runs it on the engine. A failure that may pass (KMS or
// database unavailable) leaves the job to be resumed once its lease expires, by this replica or
// another; any other failure marks the job failed with a message.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { jittered } from '../../../../common/src/backoff.js';
import { type JobHandler, runJob } from './engine.js';
import { claimJob, type JobRow } from './job-store.js';

/** Replicas that started together do not poll in step. */
const POLL_JITTER = { min: 0.5, max: 1.5 };

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
  const run = { pool: opts.pool, owner, leaseMs, logger: opts.logger, stopping: () => stopping };

  async function claimAndRun(): Promise<void> {
    while (!stopping) {
      let job: JobRow | undefined;
      try {
        job = await claimJob(opts.pool, owner, kinds, leaseMs);
      } catch (err) {
        opts.logger.warn({ err: (err as Error).message }, 'job claim failed');
      }
      const handler = job && opts.handlers[job.kind];
      if (job && handler) {
        await runJob(job, handler, { ...run, onTransient: 'release' });
        continue;
      }
      await Promise.race([sleep(jittered(pollMs, POLL_JITTER)), new Promise<void>((r) => (wake = r))]);
    }
  }

  return {
    start() {
      loop ??= claimAndRun();
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
