// Following a server job (KEK rotation, KMS migration) to its end with progress on stderr.
import type { Job, OneclawClient } from '../../../sdk/src/index.js';
import { CliError, EXIT } from '../lib/errors.js';
import { emit, printFields, progressReporter } from '../lib/output.js';
import type { Context } from './context.js';

export async function waitForJob(
  client: OneclawClient,
  job: Job,
  label: string,
  intervalMs = 500,
): Promise<Job> {
  const progress = progressReporter(label);
  let seen = job;
  try {
    for (;;) {
      progress.update(seen.processed, seen.total);
      if (seen.status === 'succeeded' || seen.status === 'failed') return seen;
      await new Promise((r) => setTimeout(r, intervalMs));
      seen = await client.jobs.get(job.id);
    }
  } finally {
    progress.done();
  }
}

/** Where a server job runs, its state and how far it got, as `printFields` shows them. */
export function jobStateFields(
  job: { vault_id: string | null; status: string; processed: number },
  total: number,
): Array<[string, string | null]> {
  return [
    ['vault', job.vault_id],
    ['status', job.status],
    ['progress', `${job.processed}/${total}`],
  ];
}

/** The `error` field of a job that failed; none for one that did not. */
export function jobErrorField(job: { error: string | null }): Array<[string, string]> {
  return job.error ? [['error', job.error]] : [];
}

function printJob(ctx: Context, job: Job): void {
  emit(ctx.format, job, () =>
    printFields([
      ['job', job.id],
      ['kind', job.kind],
      ...jobStateFields(job, job.total),
      ...jobErrorField(job),
    ]),
  );
}

/** Prints the job and fails (exit 1) if it failed. */
export function finishJob(ctx: Context, job: Job): void {
  printJob(ctx, job);
  if (job.status === 'failed')
    throw new CliError(EXIT.error, `job ${job.id} failed: ${job.error ?? 'no reason given'}`);
}
