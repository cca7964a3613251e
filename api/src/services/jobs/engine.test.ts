// The job engine on a real database, through the KEK rotation job: a runner whose lease another
// runner took commits nothing more and lets go of the job; the last batch ends the job in its
// own commit; a failure that may pass leaves the job to be resumed (`release`) or is retried
// where the job runs (`retry`).
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../test/support/api.js';
import { createVault, writeSecret } from '../../../../test/support/api-helpers.js';
import { KmsUnavailableError } from '../../crypto/errors.js';
import { type JobHandler, type RunOptions, runJob } from './engine.js';
import { claimJob, getJob, type JobRow } from './job-store.js';
import { ROTATE_KEK, rotateKekHandler } from './rotate-kek.js';

let api: TestApi;
let rotate: JobHandler;

beforeAll(async () => {
  // This server runs no jobs: the tests run them.
  api = await startTestApi({}, { runJobs: false });
  rotate = rotateKekHandler({ pool: api.db.pool, ...api.server.parts });
});
afterAll(async () => {
  await api?.close();
});

/** A vault of `count` secrets whose KEK rotation job `owner` has claimed. */
async function claimedRotation(count: number, owner: string): Promise<{ vaultId: string; job: JobRow }> {
  const vault = await createVault(api);
  for (let i = 0; i < count; i += 25)
    await Promise.all(
      Array.from({ length: Math.min(25, count - i) }, (_, j) =>
        writeSecret(api, vault.id, `s/${i + j}`, 'v'),
      ),
    );
  const started = await api.request({ method: 'POST', url: `/v1/vaults/${vault.id}/rotate-kek` });
  expect(started.statusCode).toBe(202);
  const job = await claimJob(api.db.pool, owner, [ROTATE_KEK], 60_000);
  expect(job?.id).toBe((started.json() as { id: string }).id);
  return { vaultId: vault.id, job: job as JobRow };
}

async function underKek(vaultId: string): Promise<Record<string, number>> {
  const { rows } = await api.db.pool.query<{ kek_version: number; n: number }>(
    'SELECT kek_version, count(*)::int AS n FROM secret_versions WHERE vault_id = $1 GROUP BY 1',
    [vaultId],
  );
  return Object.fromEntries(rows.map((r) => [String(r.kek_version), r.n]));
}

const options = (owner: string, onTransient: RunOptions['onTransient']): RunOptions => ({
  pool: api.db.pool,
  owner,
  leaseMs: 60_000,
  logger: pino({ level: 'silent' }),
  stopping: () => false,
  onTransient,
});

describe('job engine', () => {
  it('stops a runner whose lease was taken over: its batch rolls back and the job is not finished', async () => {
    const { vaultId, job } = await claimedRotation(230, 'runner-a');
    let batches = 0;
    const handler: JobHandler = async (j, owner, leaseMs) => {
      // Runner B takes the job over while A is between batches (A's lease looked expired to it).
      if (++batches === 2)
        await api.db.pool.query("UPDATE jobs SET lease_owner = 'runner-b' WHERE id = $1", [j.id]);
      return rotate(j, owner, leaseMs);
    };
    await runJob(job, handler, options('runner-a', 'release'));

    expect(batches).toBe(2);
    expect(await getJob(api.db.pool, job.org_id, job.id)).toMatchObject({
      status: 'running',
      processed: 100,
      lease_owner: 'runner-b',
    });
    expect(await underKek(vaultId)).toEqual({ '1': 130, '2': 100 });
  });

  it('ends the job in the commit of its last batch, with the completion recorded once', async () => {
    const { vaultId, job } = await claimedRotation(30, 'runner-e');
    expect(await rotate(job, 'runner-e', 60_000)).toEqual({ processed: 30, more: false, ownsLease: true });
    expect(await getJob(api.db.pool, job.org_id, job.id)).toMatchObject({
      status: 'succeeded',
      processed: 30,
      lease_owner: null,
    });
    const { rows } = await api.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE vault_id = $1 AND action = 'vault.kek.rewrapped'",
      [vaultId],
    );
    expect(rows[0]?.n).toBe(1);
  });

  it('leaves a job paused by an unavailable KMS to be resumed, or retries it in place', async () => {
    const outage = (handler: JobHandler, failures: number): JobHandler => {
      let left = failures;
      return async (j, owner, leaseMs) => {
        if (left-- > 0) throw new KmsUnavailableError('kms unavailable');
        return handler(j, owner, leaseMs);
      };
    };
    const released = await claimedRotation(30, 'runner-c');
    await runJob(released.job, outage(rotate, 1), options('runner-c', 'release'));
    expect(await getJob(api.db.pool, released.job.org_id, released.job.id)).toMatchObject({
      status: 'running',
      processed: 0,
      lease_owner: 'runner-c',
      error: null,
    });

    const retried = await claimedRotation(30, 'runner-d');
    await runJob(retried.job, outage(rotate, 2), options('runner-d', 'retry'));
    expect(await getJob(api.db.pool, retried.job.org_id, retried.job.id)).toMatchObject({
      status: 'succeeded',
      processed: 30,
      error: null,
    });
    expect(await underKek(retried.vaultId)).toEqual({ '2': 30 });
  });
});
