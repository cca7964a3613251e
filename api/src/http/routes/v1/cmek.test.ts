// Customer-managed keys through the API: enabling by fingerprint, writes that must be CMEK
// blobs, disabling, and the server-assisted rotation — wrong keys refused before anything
// changes, every version moved to the new key in batches, a failed job resumed, and the keys
// nowhere in the database, the logs or the audit trail.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  createUser,
  createVault,
  expectError,
  expectStoredNowhere,
  putSecret,
  secretUrl,
  tokenFor,
} from '../../../../../test/support/api-helpers.js';
import { cmekDecrypt, cmekEncrypt, cmekFingerprint } from '../../../services/cmek/format.js';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

const newKey = () => randomBytes(32);
const blob = (key: Buffer, text: string) => cmekEncrypt(Buffer.from(text), key).toString('base64');
const open = (key: Buffer, value: string) => cmekDecrypt(Buffer.from(value, 'base64'), key).toString();

async function enable(vaultId: string, key: Buffer) {
  const res = await api.request({
    method: 'POST',
    url: `/v1/vaults/${vaultId}/cmek`,
    payload: { fingerprint: cmekFingerprint(key) },
  });
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 200 });
  return res.json() as { cmek_enabled: boolean; cmek_fingerprint: string | null };
}

async function read(vaultId: string, path: string, version?: number) {
  const res = await api.request({
    method: 'GET',
    url: secretUrl(vaultId, path, version ? `?version=${version}` : ''),
  });
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 200 });
  return res.json() as {
    value: string;
    version: number;
    cmek_encrypted: boolean;
    cmek_fingerprint: string | null;
  };
}

function rotate(
  vaultId: string,
  oldKey: Buffer | string | undefined,
  next: Buffer | string | undefined,
  fp?: string,
) {
  const b64 = (k: Buffer | string) => (typeof k === 'string' ? k : k.toString('base64'));
  return api.request({
    method: 'POST',
    url: `/v1/vaults/${vaultId}/cmek-rotate`,
    headers: {
      ...(oldKey === undefined ? {} : { 'x-cmek-old-key': b64(oldKey) }),
      ...(next === undefined ? {} : { 'x-cmek-new-key': b64(next) }),
    },
    payload: { new_fingerprint: fp ?? (Buffer.isBuffer(next) ? cmekFingerprint(next) : '0'.repeat(64)) },
  });
}

interface Rotation {
  id: string;
  status: string;
  processed: number;
  total_secrets: number;
  old_fingerprint: string;
  new_fingerprint: string;
  error: string | null;
}

async function settle(vaultId: string, id: string): Promise<Rotation> {
  const end = Date.now() + 60_000;
  for (;;) {
    const res = await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/cmek-rotate/${id}` });
    expect(res.statusCode).toBe(200);
    const job = res.json() as Rotation;
    if (job.status !== 'running') return job;
    if (Date.now() > end) throw new Error(`rotation still running: ${res.body}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function auditActions(
  vaultId: string,
): Promise<
  Array<{ action: string; decision: string; reason: string | null; details: Record<string, unknown> }>
> {
  const { rows } = await api.db.pool.query(
    'SELECT action, decision, reason, details FROM audit_events WHERE vault_id = $1 ORDER BY seq',
    [vaultId],
  );
  return rows;
}

describe('enabling and disabling a customer-managed key', () => {
  it('enables by fingerprint, is idempotent, and switches only when the active key is named', async () => {
    const v = await createVault(api);
    const k1 = newKey();
    const k2 = newKey();
    expectError(
      await api.request({ method: 'POST', url: `/v1/vaults/${v.id}/cmek`, payload: { fingerprint: 'ABC' } }),
      400,
      'invalid_request',
      /fingerprint/,
    );
    expect(await enable(v.id, k1)).toMatchObject({
      cmek_enabled: true,
      cmek_fingerprint: cmekFingerprint(k1),
    });
    expect(await enable(v.id, k1)).toMatchObject({ cmek_fingerprint: cmekFingerprint(k1) });

    const other = await api.request({
      method: 'POST',
      url: `/v1/vaults/${v.id}/cmek`,
      payload: { fingerprint: cmekFingerprint(k2) },
    });
    expectError(other, 409, 'cmek_already_enabled');
    const wrongPrevious = await api.request({
      method: 'POST',
      url: `/v1/vaults/${v.id}/cmek`,
      payload: { fingerprint: cmekFingerprint(k2), previous_fingerprint: cmekFingerprint(newKey()) },
    });
    expectError(wrongPrevious, 409, 'cmek_fingerprint_mismatch');
    const switched = await api.request({
      method: 'POST',
      url: `/v1/vaults/${v.id}/cmek`,
      payload: { fingerprint: cmekFingerprint(k2), previous_fingerprint: cmekFingerprint(k1) },
    });
    expect(switched.json()).toMatchObject({ cmek_fingerprint: cmekFingerprint(k2) });

    const actions = (await auditActions(v.id)).map((a) => [a.action, a.details.fingerprint]);
    expect(actions).toContainEqual(['cmek.enable', cmekFingerprint(k1)]);
    expect(actions).toContainEqual(['cmek.switch', cmekFingerprint(k2)]);
  });

  it('is for admins only', async () => {
    const v = await createVault(api);
    const member = await createUser(api, 'member');
    const res = await api.request({
      method: 'POST',
      url: `/v1/vaults/${v.id}/cmek`,
      payload: { fingerprint: cmekFingerprint(newKey()) },
      token: await tokenFor(api, member.apiKey),
    });
    expectError(res, 403, 'admin_required');
    expect((await api.request({ method: 'GET', url: `/v1/vaults/${v.id}` })).json()).toMatchObject({
      cmek_enabled: false,
    });
  });

  it('accepts only CMEK blobs while enabled, records the key per version, and keeps old versions flagged after disabling', async () => {
    const v = await createVault(api);
    const k = newKey();
    const fp = cmekFingerprint(k);
    expectError(
      await putSecret(api, v.id, 'a', { value: 'x', cmek_fingerprint: fp }),
      409,
      'cmek_not_enabled',
    );
    await enable(v.id, k);

    for (const bad of [
      'plain text',
      '',
      Buffer.from([1, 2, 3]).toString('base64'),
      randomBytes(40).toString('hex'),
    ]) {
      expectError(await putSecret(api, v.id, 'a', { value: bad }), 409, 'invalid_cmek_value');
    }
    const notV1 = Buffer.from(blob(k, 'x'), 'base64');
    notV1[0] = 2;
    expectError(
      await putSecret(api, v.id, 'a', { value: notV1.toString('base64') }),
      409,
      'invalid_cmek_value',
    );
    expectError(
      await putSecret(api, v.id, 'a', { value: blob(k, 'x'), cmek_fingerprint: cmekFingerprint(newKey()) }),
      409,
      'cmek_fingerprint_mismatch',
    );
    // Nothing was written by any of the refused requests.
    expect((await api.request({ method: 'GET', url: secretUrl(v.id, 'a') })).statusCode).toBe(404);

    const stored = blob(k, 'db-password');
    expect((await putSecret(api, v.id, 'a', { value: stored, cmek_fingerprint: fp })).statusCode).toBe(200);
    const got = await read(v.id, 'a');
    expect(got).toMatchObject({ value: stored, cmek_encrypted: true, cmek_fingerprint: fp });
    expect(open(k, got.value)).toBe('db-password');

    const list = await api.request({ method: 'GET', url: `/v1/vaults/${v.id}/secrets` });
    expect(list.json()).toMatchObject({
      secrets: [{ path: 'a', cmek_encrypted: true, cmek_fingerprint: fp }],
    });
    expect(list.body).not.toContain(stored);

    expectError(
      await api.request({
        method: 'DELETE',
        url: `/v1/vaults/${v.id}/cmek`,
        payload: { fingerprint: cmekFingerprint(newKey()) },
      }),
      409,
      'cmek_fingerprint_mismatch',
    );
    const off = await api.request({
      method: 'DELETE',
      url: `/v1/vaults/${v.id}/cmek`,
      payload: { fingerprint: fp },
    });
    expect(off.json()).toMatchObject({ cmek_enabled: false, cmek_fingerprint: null });
    expectError(
      await api.request({ method: 'DELETE', url: `/v1/vaults/${v.id}/cmek`, payload: { fingerprint: fp } }),
      409,
      'cmek_not_enabled',
    );

    expect((await putSecret(api, v.id, 'a', { value: 'plain now' })).statusCode).toBe(200);
    expect(await read(v.id, 'a', 2)).toMatchObject({
      value: 'plain now',
      cmek_encrypted: false,
      cmek_fingerprint: null,
    });
    expect(await read(v.id, 'a', 1)).toMatchObject({ cmek_encrypted: true, cmek_fingerprint: fp });
    const versions = await api.request({ method: 'GET', url: `/v1/vaults/${v.id}/versions/a` });
    expect((versions.json() as { versions: unknown[] }).versions).toMatchObject([
      { version: 1, cmek_encrypted: true, cmek_fingerprint: fp },
      { version: 2, cmek_encrypted: false, cmek_fingerprint: null },
    ]);
  });
});

describe('server-assisted rotation', () => {
  it('refuses missing, malformed and wrong keys before anything changes', async () => {
    const v = await createVault(api);
    const k = newKey();
    await enable(v.id, k);
    await putSecret(api, v.id, 's', { value: blob(k, 'v') });
    const next = newKey();

    expectError(await rotate(v.id, undefined, next), 400, 'invalid_cmek_key', /x-cmek-old-key/);
    expectError(await rotate(v.id, k, 'bm90IGEga2V5'), 400, 'invalid_cmek_key', /x-cmek-new-key/);
    expectError(await rotate(v.id, 'not base64!', next), 400, 'invalid_cmek_key');
    expectError(
      await rotate(v.id, newKey(), next),
      409,
      'cmek_key_mismatch',
      /x-cmek-old-key is not the vault's active/,
    );
    expectError(
      await rotate(v.id, k, next, cmekFingerprint(newKey())),
      400,
      'cmek_key_mismatch',
      /new_fingerprint/,
    );
    expectError(await rotate(v.id, k, k), 400, 'invalid_request');

    expect((await api.request({ method: 'GET', url: `/v1/vaults/${v.id}` })).json()).toMatchObject({
      cmek_fingerprint: cmekFingerprint(k),
    });
    const { rows } = await api.db.pool.query(
      "SELECT 1 FROM jobs WHERE vault_id = $1 AND kind = 'cmek-rotate'",
      [v.id],
    );
    expect(rows).toHaveLength(0);
    expect(open(k, (await read(v.id, 's')).value)).toBe('v');
    const denied = (await auditActions(v.id)).filter((a) => a.decision === 'deny');
    expect(denied.map((a) => [a.action, a.reason])).toEqual([
      ['cmek.rotate', 'cmek_key_mismatch'],
      ['cmek.rotate', 'cmek_key_mismatch'],
    ]);

    const plain = await createVault(api);
    expectError(await rotate(plain.id, k, next), 409, 'cmek_not_enabled');
  });

  it('moves every version under the old key to the new one, in batches, and leaks neither key', async () => {
    const v = await createVault(api);
    const oldKey = newKey();
    const next = newKey();
    await enable(v.id, oldKey);
    const count = 230;
    for (let i = 0; i < count; i += 23) {
      await Promise.all(
        Array.from({ length: 23 }, (_, j) =>
          putSecret(api, v.id, `app/s${i + j}`, { value: blob(oldKey, `value-${i + j}`) }),
        ),
      );
    }
    // Second versions for some paths, and one destroyed secret (nothing left to rotate there).
    for (let i = 0; i < 5; i++)
      await putSecret(api, v.id, `app/s${i}`, { value: blob(oldKey, `value-${i}-b`) });
    await api.request({ method: 'DELETE', url: secretUrl(v.id, 'app/s229', '?destroy=true') });

    const started = await rotate(v.id, oldKey, next);
    expect(started.statusCode).toBe(202);
    const job = started.json() as Rotation;
    expect(job).toMatchObject({
      status: 'running',
      total_secrets: count + 5 - 1,
      old_fingerprint: cmekFingerprint(oldKey),
      new_fingerprint: cmekFingerprint(next),
    });
    // New writes are under the new key at once.
    expect((await api.request({ method: 'GET', url: `/v1/vaults/${v.id}` })).json()).toMatchObject({
      cmek_fingerprint: cmekFingerprint(next),
    });

    const done = await settle(v.id, job.id);
    expect(done).toMatchObject({ status: 'succeeded', processed: count + 5 - 1, error: null });
    for (const i of [0, 4, 5, 117, 228]) {
      const got = await read(v.id, `app/s${i}`);
      expect(got.cmek_fingerprint).toBe(cmekFingerprint(next));
      expect(open(next, got.value)).toBe(i < 5 ? `value-${i}-b` : `value-${i}`);
      expect(() => open(oldKey, got.value)).toThrow();
    }
    expect(open(next, (await read(v.id, 'app/s3', 1)).value)).toBe('value-3');
    const { rows } = await api.db.pool.query<{ fp: string | null; n: number }>(
      'SELECT cmek_fingerprint AS fp, count(*)::int AS n FROM secret_versions WHERE vault_id = $1 AND destroyed_at IS NULL GROUP BY 1',
      [v.id],
    );
    expect(rows).toEqual([{ fp: cmekFingerprint(next), n: count + 5 - 1 }]);

    // The change feed says which stored values changed, so synced copies follow.
    const events = await api.db.pool.query(
      "SELECT count(*)::int AS n FROM vault_events WHERE vault_id = $1 AND kind = 'secret.reencrypted'",
      [v.id],
    );
    expect(events.rows[0]).toEqual({ n: count + 5 - 1 });

    for (const key of [oldKey, next]) {
      await expectStoredNowhere(api, key.toString('base64'));
      expect(JSON.stringify(api.logs)).not.toContain(key.toString('base64'));
      expect(JSON.stringify(api.logs)).not.toContain(key.toString('hex'));
    }
    const actions = (await auditActions(v.id)).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['cmek.rotate.start', 'cmek.rotated']));
  });

  it('fails on a version the old key cannot open, refuses other rotations meanwhile, and resumes with the same keys', async () => {
    const v = await createVault(api);
    const oldKey = newKey();
    const next = newKey();
    await enable(v.id, oldKey);
    for (let i = 0; i < 30; i++) await putSecret(api, v.id, `p/${i}`, { value: blob(oldKey, `v${i}`) });
    // Recorded under the old fingerprint but encrypted with some other key (a buggy client).
    await putSecret(api, v.id, 'p/bad', { value: blob(newKey(), 'lost') });

    const first = (await rotate(v.id, oldKey, next)).json() as Rotation;
    const failed = await settle(v.id, first.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/version 1 of p\/bad does not decrypt under the key/);

    // Another rotation, or enabling another key, must wait for this one.
    expectError(await rotate(v.id, oldKey, newKey()), 409, 'cmek_rotation_running');
    expectError(await rotate(v.id, newKey(), next), 409, 'cmek_key_mismatch');

    expect(
      (await api.request({ method: 'DELETE', url: secretUrl(v.id, 'p/bad', '?destroy=true') })).statusCode,
    ).toBe(204);
    const resumed = await rotate(v.id, oldKey, next);
    expect(resumed.statusCode).toBe(202);
    expect((resumed.json() as Rotation).id).toBe(first.id);
    const done = await settle(v.id, first.id);
    expect(done).toMatchObject({ status: 'succeeded', error: null });
    for (let i = 0; i < 30; i++) expect(open(next, (await read(v.id, `p/${i}`)).value)).toBe(`v${i}`);
    expect((await auditActions(v.id)).map((a) => a.action)).toContain('cmek.rotate.resume');

    // Finished: a rotation from the now-active key starts a new job.
    const again = (await rotate(v.id, next, oldKey)).json() as Rotation;
    expect(again.id).not.toBe(first.id);
    expect(await settle(v.id, again.id)).toMatchObject({ status: 'succeeded', processed: 30 });
    const listed = await api.request({ method: 'GET', url: `/v1/vaults/${v.id}/cmek-rotate` });
    expect((listed.json() as { rotations: Rotation[] }).rotations.map((r) => [r.id, r.status])).toEqual([
      [again.id, 'succeeded'],
      [first.id, 'succeeded'],
    ]);
  });

  it('answers 404 for a rotation of another vault', async () => {
    const a = await createVault(api);
    const b = await createVault(api);
    const k = newKey();
    await enable(a.id, k);
    const job = (await rotate(a.id, k, newKey())).json() as Rotation;
    expectError(
      await api.request({ method: 'GET', url: `/v1/vaults/${b.id}/cmek-rotate/${job.id}` }),
      404,
      'not_found',
    );
  });
});
