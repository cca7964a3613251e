// `kms migrate` from the local backend to OpenBao transit, as an operator does it: restart with
// the new key as ONECLAW_KMS_KEY and the old one in ONECLAW_KMS_PREVIOUS_KEYS, start the job,
// and once it has succeeded the old key can go — every secret, in wrapped and in kms custody,
// still opens with the new key alone.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../test/support/api.js';
import {
  createUser,
  createVault,
  expectError,
  secretUrl,
  tokenFor,
  writeSecret,
} from '../../../../test/support/api-helpers.js';
import { migratedDatabase, type TestDatabase } from '../../../../test/support/db.js';
import { sharedPeer, uniqueName } from '../../../../test/support/fixtures.js';
import { decodeKmsBlob } from '../../kms/blob.js';

let db: TestDatabase;
let transit: Record<string, string>;
const masterKey = randomBytes(32).toString('base64');
const adminKey = `ocu_${randomBytes(30).toString('base64url')}`;
const apis: TestApi[] = [];

async function start(env: Record<string, string>): Promise<TestApi> {
  const api = await startTestApi(
    { ONECLAW_BOOTSTRAP_ADMIN_KEY: adminKey, ...env },
    { db, jobLeaseMs: 1_000 },
  );
  apis.push(api);
  return api;
}

beforeAll(async () => {
  db = await migratedDatabase();
  const bao = await sharedPeer('openbao');
  const key = uniqueName('migrate');
  const res = await fetch(`${bao.address}/v1/${bao.transitMount}/keys/${key}`, {
    method: 'POST',
    headers: { 'x-vault-token': bao.token, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'aes256-gcm96' }),
  });
  expect(res.ok).toBe(true);
  transit = {
    ONECLAW_KMS_KEY: `transit://${bao.transitMount}/${key}`,
    ONECLAW_TRANSIT_ADDR: bao.address,
    ONECLAW_TRANSIT_TOKEN: bao.token,
  };
});
afterAll(async () => {
  for (const a of apis) await a.close();
  await db?.drop();
});

async function waitForJob(api: TestApi, id: string) {
  const end = Date.now() + 60_000;
  for (;;) {
    const job = (await api.request({ method: 'GET', url: `/v1/jobs/${id}` })).json() as {
      status: string;
      processed: number;
      total: number;
      error: string | null;
    };
    if (job.status === 'succeeded' || job.status === 'failed') return job;
    if (Date.now() > end) throw new Error(`job ${id} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('kms migrate', () => {
  it('moves KEKs and kms-custody DEKs to the new backend online; afterwards the old key is not needed', async () => {
    const local = { ONECLAW_KMS_KEY: 'local://main', ONECLAW_LOCAL_MASTER_KEY: masterKey };
    const before = await start(local);
    const wrapped = await createVault(before);
    for (let i = 0; i < 5; i++) await writeSecret(before, wrapped.id, `w/${i}`, `wrapped-${i}`);
    const rotate = await before.request({ method: 'POST', url: `/v1/vaults/${wrapped.id}/rotate-kek` });
    expect(rotate.statusCode).toBe(202);
    await waitForJob(before, (rotate.json() as { id: string }).id);
    await writeSecret(before, wrapped.id, 'w/after-rotation', 'kek-2');
    const custody = await createVault(before, { custody: 'kms' });
    for (let i = 0; i < 130; i += 26) {
      await Promise.all(
        Array.from({ length: 26 }, (_, j) =>
          writeSecret(before, custody.id, `k/${i + j}`, `custody-${i + j}`),
        ),
      );
    }
    await before.close();
    apis.splice(apis.indexOf(before), 1);

    // The new key is current; the old one is kept for reading until the job is done.
    const during = await start({
      ...transit,
      ONECLAW_KMS_PREVIOUS_KEYS: 'local://main',
      ONECLAW_LOCAL_MASTER_KEY: masterKey,
    });
    const read = async (api: TestApi, vaultId: string, path: string) => {
      const res = await api.request({ method: 'GET', url: secretUrl(vaultId, path) });
      expect({ path, status: res.statusCode }).toEqual({ path, status: 200 });
      return (res.json() as { value: string }).value;
    };
    expect(await read(during, custody.id, 'k/7')).toBe('custody-7');

    const member = await createUser(during, 'member');
    expectError(
      await during.request({
        method: 'POST',
        url: '/v1/kms/migrate',
        payload: {},
        token: await tokenFor(during, member.apiKey),
      }),
      403,
      'admin_required',
    );
    expectError(
      await during.request({
        method: 'POST',
        url: '/v1/kms/migrate',
        payload: { vault_id: '00000000-0000-4000-8000-000000000000' },
      }),
      404,
      'not_found',
    );

    const started = await during.request({ method: 'POST', url: '/v1/kms/migrate', payload: {} });
    expect(started.statusCode).toBe(202);
    const job = started.json() as { id: string; kind: string; total: number };
    expect(job).toMatchObject({ kind: 'kms-migrate', total: 2 + 1 + 130 });
    // Writes go on while it runs.
    await writeSecret(during, custody.id, 'k/during', 'written-during');
    const done = await waitForJob(during, job.id);
    expect(done).toMatchObject({ status: 'succeeded', error: null });

    const { rows: keks } = await db.pool.query<{ kms_backend: string; n: number }>(
      'SELECT kms_backend, count(*)::int AS n FROM vault_keks WHERE wrapped_kek IS NOT NULL GROUP BY 1',
    );
    expect(keks).toEqual([{ kms_backend: 'transit', n: 3 }]);
    const { rows: deks } = await db.pool.query<{ wrapped_dek: Buffer }>(
      'SELECT wrapped_dek FROM secret_versions WHERE vault_id = $1',
      [custody.id],
    );
    expect(deks).toHaveLength(131);
    for (const d of deks) expect(decodeKmsBlob(d.wrapped_dek.subarray(1)).backend).toBe('transit');
    const vault = (await during.request({ method: 'GET', url: `/v1/vaults/${custody.id}` })).json();
    expect(vault).toMatchObject({ kms_key: transit.ONECLAW_KMS_KEY, kms_backend: 'transit' });
    const { rows: audit } = await db.pool.query<{ action: string }>(
      "SELECT action FROM audit_events WHERE action LIKE 'kms.%' ORDER BY seq",
    );
    expect(audit.map((a) => a.action)).toEqual(['kms.migrate', 'kms.migrated']);

    // The old key is gone from configuration: everything still opens.
    await during.close();
    apis.splice(apis.indexOf(during), 1);
    const after = await start(transit);
    for (let i = 0; i < 5; i++) expect(await read(after, wrapped.id, `w/${i}`)).toBe(`wrapped-${i}`);
    expect(await read(after, wrapped.id, 'w/after-rotation')).toBe('kek-2');
    for (const i of [0, 64, 99, 129]) expect(await read(after, custody.id, `k/${i}`)).toBe(`custody-${i}`);
    expect(await read(after, custody.id, 'k/during')).toBe('written-during');
  });
});
