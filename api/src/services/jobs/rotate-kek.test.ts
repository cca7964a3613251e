// KEK rotation end to end: new writes move to the new KEK at once, a job re-wraps every older
// DEK in batches while reads and writes go on, and a runner that dies mid-job is replaced by
// another that finishes without redoing or skipping work.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../test/support/api.js';
import { getJob } from './job-store.js';
import { ROTATE_KEK, rotateKekHandler } from './rotate-kek.js';
import { createJobRunner } from './runner.js';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function seed(api: TestApi, name: string, count: number): Promise<string> {
  const v = await api.request({ method: 'POST', url: '/v1/vaults', payload: { name } });
  expect(v.statusCode).toBe(201);
  const id = (v.json() as { id: string }).id;
  for (let i = 0; i < count; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, count - i) }, (_, j) =>
        api.request({
          method: 'PUT',
          url: `/v1/vaults/${id}/secrets/s/${i + j}`,
          payload: { type: 'password', value: `value-${i + j}` },
        }),
      ),
    );
  }
  return id;
}

async function kekVersions(api: TestApi, vaultId: string): Promise<Record<string, number>> {
  const { rows } = await api.db.pool.query<{ kek_version: number; n: number }>(
    'SELECT kek_version, count(*)::int AS n FROM secret_versions WHERE vault_id = $1 AND destroyed_at IS NULL GROUP BY 1',
    [vaultId],
  );
  return Object.fromEntries(rows.map((r) => [String(r.kek_version), r.n]));
}

describe('KEK rotation job', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({}, { jobLeaseMs: 1_000 });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('re-wraps every DEK to the new KEK while reads and writes keep working', async () => {
    const vaultId = await seed(api, 'rotate', 250);
    const started = await api.request({ method: 'POST', url: `/v1/vaults/${vaultId}/rotate-kek` });
    expect(started.statusCode).toBe(202);
    const job = started.json() as { id: string; total: number; status: string };
    expect(job.total).toBe(250);

    // Traffic during the rotation: every read returns its value; new writes land on KEK 2.
    const traffic = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 3 === 0
          ? api.request({
              method: 'PUT',
              url: `/v1/vaults/${vaultId}/secrets/new/${i}`,
              payload: { type: 'note', value: `new-${i}` },
            })
          : api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/secrets/s/${i}` }),
      ),
    );
    for (const [i, res] of traffic.entries()) {
      expect(res.statusCode, `request ${i}`).toBe(200);
      if (i % 3 !== 0) expect((res.json() as { value: string }).value).toBe(`value-${i}`);
    }

    const done = await until('job to succeed', async () => {
      const r = await api.request({ method: 'GET', url: `/v1/jobs/${job.id}` });
      const j = r.json() as { status: string; processed: number; total: number };
      return j.status === 'succeeded' ? j : undefined;
    });
    expect(done.processed).toBe(250);
    expect(await kekVersions(api, vaultId)).toEqual({ '2': 270 });
    const vault = await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}` });
    expect((vault.json() as { kek_version: number }).kek_version).toBe(2);
    for (const i of [0, 99, 249]) {
      const r = await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/secrets/s/${i}` });
      expect((r.json() as { value: string }).value).toBe(`value-${i}`);
    }
  });

  it('rejects rotation of an unknown vault and of a vault in kms custody', async () => {
    const unknown = await api.request({
      method: 'POST',
      url: '/v1/vaults/00000000-0000-4000-8000-000000000000/rotate-kek',
    });
    expect(unknown.statusCode).toBe(404);
    const v = await api.request({
      method: 'POST',
      url: '/v1/vaults',
      payload: { name: 'strict', custody: 'kms' },
    });
    const r = await api.request({
      method: 'POST',
      url: `/v1/vaults/${(v.json() as { id: string }).id}/rotate-kek`,
    });
    // The vault's state, not the request, is what conflicts.
    expect(r.statusCode).toBe(409);
  });
});

describe('KEK rotation job after a crash', () => {
  let api: TestApi;
  beforeAll(async () => {
    // This server runs no jobs: the test runs the runners itself.
    api = await startTestApi({}, { runJobs: false });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('is resumed by another runner once the dead one’s lease expires, and finishes exactly', async () => {
    const vaultId = await seed(api, 'crash', 230);
    const started = await api.request({ method: 'POST', url: `/v1/vaults/${vaultId}/rotate-kek` });
    const jobId = (started.json() as { id: string }).id;

    const { pool } = api.db;
    const handler = rotateKekHandler({ pool, ...api.server.parts });
    const orgId = (await pool.query<{ org_id: string }>('SELECT org_id FROM jobs WHERE id = $1', [jobId]))
      .rows[0]?.org_id as string;

    // Runner A processes one batch, then dies without finishing: its lease stays behind.
    let batches = 0;
    const a = createJobRunner({
      pool,
      logger: pino({ level: 'silent' }),
      leaseMs: 800,
      owner: 'runner-a',
      handlers: {
        [ROTATE_KEK]: async (job, owner, leaseMs) => {
          const r = await handler(job, owner, leaseMs);
          if (++batches === 1) void a.stop();
          return r;
        },
      },
    });
    a.start();
    await until('runner A to stop', async () => (batches >= 1 ? true : undefined));
    await a.stop();
    const mid = await getJob(pool, orgId, jobId);
    expect(mid?.status).toBe('running');
    expect(mid?.processed).toBe(100);
    expect(mid?.lease_owner).toBe('runner-a');
    expect(await kekVersions(api, vaultId)).toEqual({ '1': 130, '2': 100 });

    // Runner B cannot take it while the lease holds, then does once it expires.
    const b = createJobRunner({
      pool,
      logger: pino({ level: 'silent' }),
      leaseMs: 800,
      pollMs: 100,
      owner: 'runner-b',
      handlers: { [ROTATE_KEK]: handler },
    });
    b.start();
    const finished = await until('job to succeed under runner B', async () => {
      const j = await getJob(pool, orgId, jobId);
      return j?.status === 'succeeded' ? j : undefined;
    });
    await b.stop();
    expect(finished.processed).toBe(230);
    expect(await kekVersions(api, vaultId)).toEqual({ '2': 230 });
  });
});
