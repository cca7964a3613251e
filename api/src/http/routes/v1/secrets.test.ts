// Versioned secrets over the API: versions, check-and-set, concurrency, expiry, access limits,
// version history, soft delete and destroy. Listing is in secrets-list.test.ts, input
// validation and integrity in secrets-validation.test.ts.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  createVault,
  expectError,
  putSecret,
  secretUrl,
  writeSecret,
} from '../../../../../test/support/api-helpers.js';
import { bootstrapAdminId } from './test-helpers.js';

describe('secrets', () => {
  let api: TestApi;
  let vaultId: string;
  let adminSubject: string;

  beforeAll(async () => {
    api = await startTestApi();
    vaultId = (await createVault(api)).id;
    adminSubject = `user:${await bootstrapAdminId(api)}`;
  });
  afterAll(async () => {
    await api?.close();
  });

  const read = (path: string, query = '') =>
    api.request({ method: 'GET', url: secretUrl(vaultId, path, query) });
  const versionsOf = async (path: string) =>
    (
      await api.db.pool.query<{ version: number }>(
        `SELECT v.version FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
          WHERE s.vault_id = $1 AND s.path = $2 ORDER BY v.version`,
        [vaultId, path],
      )
    ).rows.map((r) => r.version);

  describe('write and read', () => {
    it('writes versions 1, 2, 3 and reads the latest or any version', async () => {
      const first = await putSecret(api, vaultId, 'app/db/password', { value: 'pw-one' });
      expect(first.statusCode).toBe(200);
      const body = first.json() as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['created_at', 'path', 'version']);
      expect(body).toMatchObject({ path: 'app/db/password', version: 1 });
      expect(await writeSecret(api, vaultId, 'app/db/password', 'pw-two')).toBe(2);
      expect(
        await writeSecret(api, vaultId, 'app/db/password', 'pw-three', {
          type: 'api_key',
          metadata: { owner: 'payments', rotated: 'yes' },
        }),
      ).toBe(3);

      const latest = await read('app/db/password');
      expect(latest.statusCode).toBe(200);
      expect(latest.json()).toEqual({
        path: 'app/db/password',
        type: 'api_key',
        value: 'pw-three',
        version: 3,
        metadata: { owner: 'payments', rotated: 'yes' },
        expires_at: null,
        cmek_encrypted: false,
        cmek_fingerprint: null,
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      const v1 = await read('app/db/password', '?version=1');
      expect(v1.json()).toMatchObject({ value: 'pw-one', version: 1, type: 'password', metadata: {} });
      expect(v1.json().created_at).toBe(body.created_at);
      expect((await read('app/db/password', '?version=2')).json()).toMatchObject({
        value: 'pw-two',
        version: 2,
      });
      expect(await versionsOf('app/db/password')).toEqual([1, 2, 3]);
    });

    it('keeps unicode and empty values intact', async () => {
      const value = 'pässwörd ✓ 🔑\n\t"quoted" \\ end';
      await writeSecret(api, vaultId, 'app/unicode', value, { type: 'note' });
      expect((await read('app/unicode')).json()).toMatchObject({ value, type: 'note' });
      await writeSecret(api, vaultId, 'app/empty', '');
      expect((await read('app/empty')).json()).toMatchObject({ value: '', version: 1 });
    });

    it('answers 404 to an unknown path or version, and 400 to a bad version', async () => {
      expectError(await read('app/never-written'), 404, 'not_found', 'secret not found');
      expectError(await read('app/db/password', '?version=9'), 404, 'not_found', 'secret version not found');
      expectError(await read('app/db/password', '?version=0'), 400, 'invalid_request', /version/);
      expectError(await read('app/db/password', '?version=abc'), 400, 'invalid_request', /version/);
      expectError(await read('app/db/password', '?v=1'), 400, 'invalid_request', /additional properties/);
    });

    it('stores only ciphertext: the value is not in the row', async () => {
      const value = `plain-${randomBytes(8).toString('hex')}`;
      await writeSecret(api, vaultId, 'app/at-rest', value);
      const { rows } = await api.db.pool.query(
        `SELECT v.* FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.path = 'app/at-rest'`,
      );
      expect(rows).toHaveLength(1);
      const raw = JSON.stringify(rows[0], (_k, v) =>
        v && typeof v === 'object' && v.type === 'Buffer' ? Buffer.from(v.data).toString('latin1') : v,
      );
      expect(raw).not.toContain(value);
      expect(rows[0].ciphertext.length).toBeGreaterThan(value.length);
    });
  });

  describe('check-and-set', () => {
    it('answers 409 to a stale cas and writes nothing', async () => {
      await writeSecret(api, vaultId, 'cas/a', 'a1');
      await writeSecret(api, vaultId, 'cas/a', 'a2');
      const auditBefore = await api.db.pool.query(`SELECT count(*)::int AS n FROM audit_events`);
      expectError(
        await putSecret(api, vaultId, 'cas/a', { value: 'a-stale', cas: 1 }),
        409,
        'conflict',
        'check-and-set failed: current version is 2, expected 1',
      );
      expect(await versionsOf('cas/a')).toEqual([1, 2]);
      const secret = await api.db.pool.query(`SELECT current_version FROM secrets WHERE path = 'cas/a'`);
      expect(secret.rows).toEqual([{ current_version: 2 }]);
      expect((await api.db.pool.query(`SELECT count(*)::int AS n FROM audit_events`)).rows).toEqual(
        auditBefore.rows,
      );
      expect((await read('cas/a')).json()).toMatchObject({ value: 'a2', version: 2 });

      expect((await putSecret(api, vaultId, 'cas/a', { value: 'a3', cas: 2 })).json()).toMatchObject({
        version: 3,
      });
    });

    it('cas 0 creates a new path and refuses an existing one', async () => {
      expect((await putSecret(api, vaultId, 'cas/new', { value: 'n1', cas: 0 })).json()).toMatchObject({
        version: 1,
      });
      expectError(
        await putSecret(api, vaultId, 'cas/new', { value: 'n-again', cas: 0 }),
        409,
        'conflict',
        'check-and-set failed: current version is 1, expected 0',
      );
      expect(await versionsOf('cas/new')).toEqual([1]);
    });

    it('a cas above 0 on a path that does not exist leaves no trace', async () => {
      expectError(
        await putSecret(api, vaultId, 'cas/ghost', { value: 'g', cas: 3 }),
        409,
        'conflict',
        'check-and-set failed: current version is 0, expected 3',
      );
      const row = await api.db.pool.query(`SELECT 1 FROM secrets WHERE path = 'cas/ghost'`);
      expect(row.rowCount).toBe(0);
      expectError(await read('cas/ghost'), 404, 'not_found', 'secret not found');
    });

    it('of 10 concurrent creates with cas 0 exactly one wins', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          putSecret(api, vaultId, 'cas/contended', { value: `c${i}`, cas: 0 }),
        ),
      );
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, ...Array(9).fill(409)]);
      expect(await versionsOf('cas/contended')).toEqual([1]);
    });
  });

  describe('concurrency', () => {
    it('100 concurrent writes to one path make versions 1..100, each holding what its writer sent', async () => {
      const N = 100;
      const path = 'concurrent/one';
      const results = await Promise.all(
        Array.from({ length: N }, (_, i) => putSecret(api, vaultId, path, { value: `writer-${i}` })),
      );
      expect(results.map((r) => r.statusCode)).toEqual(Array(N).fill(200));
      const byVersion = new Map(
        results.map((r, i) => [(r.json() as { version: number }).version, `writer-${i}`]),
      );
      const expected = Array.from({ length: N }, (_, i) => i + 1);
      expect([...byVersion.keys()].sort((a, b) => a - b)).toEqual(expected);
      expect(await versionsOf(path)).toEqual(expected);
      const dupes = await api.db.pool.query(
        `SELECT count(*)::int AS n, count(DISTINCT version)::int AS d FROM secret_versions v
           JOIN secrets s ON s.id = v.secret_id WHERE s.path = $1`,
        [path],
      );
      expect(dupes.rows).toEqual([{ n: N, d: N }]);
      expect(
        (await api.db.pool.query('SELECT current_version FROM secrets WHERE path = $1', [path])).rows,
      ).toEqual([{ current_version: N }]);
      const reads = await Promise.all(expected.map((v) => read(path, `?version=${v}`)));
      expect(reads.map((r) => (r.json() as { value: string }).value)).toEqual(
        expected.map((v) => byVersion.get(v)),
      );
      expect((await read(path)).json()).toMatchObject({ version: N, value: byVersion.get(N) });
    });

    it('concurrent writes to many paths version each path independently', async () => {
      const paths = Array.from({ length: 15 }, (_, i) => `concurrent/many/p${i}`);
      const results = await Promise.all(
        paths.flatMap((p) => [0, 1, 2].map((n) => putSecret(api, vaultId, p, { value: `${p}#${n}` }))),
      );
      expect(results.every((r) => r.statusCode === 200)).toBe(true);
      for (const p of paths) expect(await versionsOf(p)).toEqual([1, 2, 3]);
    });
  });

  describe('expiry and access limits', () => {
    it('answers 400 to an expires_at in the past or not a date-time', async () => {
      expectError(
        await putSecret(api, vaultId, 'exp/past', {
          value: 'x',
          expires_at: new Date(Date.now() - 60_000).toISOString(),
        }),
        400,
        'invalid_request',
        'expires_at must be in the future',
      );
      expectError(
        await putSecret(api, vaultId, 'exp/past', { value: 'x', expires_at: 'tomorrow' }),
        400,
        'invalid_request',
        /expires_at/,
      );
      expect(await versionsOf('exp/past')).toEqual([]);
    });

    it('answers 410 once a version has expired; other versions stay readable', async () => {
      await writeSecret(api, vaultId, 'exp/soon', 'still-good');
      const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
      await writeSecret(api, vaultId, 'exp/soon', 'expiring', { expires_at: expiresAt });
      expect((await read('exp/soon')).json()).toMatchObject({ value: 'expiring', expires_at: expiresAt });

      await api.db.pool.query(
        `UPDATE secret_versions SET expires_at = now() - interval '1 second'
          WHERE version = 2 AND secret_id = (SELECT id FROM secrets WHERE path = 'exp/soon')`,
      );
      const res = await read('exp/soon');
      expectError(res, 410, 'gone', 'this secret version has expired');
      expect(res.body).not.toContain('expiring');
      expect((await read('exp/soon', '?version=1')).json()).toMatchObject({ value: 'still-good' });
    });

    it('max_access_count 3: of 10 concurrent reads exactly 3 succeed and 7 get 410', async () => {
      await writeSecret(api, vaultId, 'limited/three', 'read-me-thrice', { max_access_count: 3 });
      const results = await Promise.all(Array.from({ length: 10 }, () => read('limited/three')));
      const ok = results.filter((r) => r.statusCode === 200);
      const gone = results.filter((r) => r.statusCode === 410);
      expect([ok.length, gone.length]).toEqual([3, 7]);
      for (const r of ok) expect(r.json()).toMatchObject({ value: 'read-me-thrice' });
      for (const r of gone)
        expectError(r, 410, 'gone', 'this secret version has reached its maximum access count');
      const count = await api.db.pool.query(
        `SELECT access_count, max_access_count FROM secret_versions
          WHERE secret_id = (SELECT id FROM secrets WHERE path = 'limited/three')`,
      );
      expect(count.rows).toEqual([{ access_count: 3, max_access_count: 3 }]);
    });

    it('answers 400 to a max_access_count below 1', async () => {
      for (const n of [0, -1, 1.5]) {
        expectError(
          await putSecret(api, vaultId, 'limited/bad', { value: 'x', max_access_count: n }),
          400,
          'invalid_request',
          /max_access_count/,
        );
      }
    });
  });

  describe('versions', () => {
    it('lists every version with metadata and never a value', async () => {
      await writeSecret(api, vaultId, 'hist/a', 'history-one');
      await writeSecret(api, vaultId, 'hist/a', 'history-two', { type: 'note', max_access_count: 5 });
      const res = await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/versions/hist/a` });
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain('history-');
      const { versions } = res.json() as { versions: Array<Record<string, unknown>> };
      expect(versions).toEqual([
        {
          version: 1,
          type: 'password',
          created_at: expect.any(String),
          created_by: adminSubject,
          expires_at: null,
          max_access_count: null,
          access_count: 0,
          destroyed: false,
          cmek_encrypted: false,
          cmek_fingerprint: null,
        },
        expect.objectContaining({ version: 2, type: 'note', max_access_count: 5, access_count: 0 }),
      ]);
      expectError(
        await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/versions/hist/none` }),
        404,
        'not_found',
        'secret not found',
      );
    });
  });

  describe('delete', () => {
    const del = (path: string, query = '') =>
      api.request({ method: 'DELETE', url: secretUrl(vaultId, path, query) });

    it('soft delete hides the secret; the next write continues the version sequence', async () => {
      await writeSecret(api, vaultId, 'del/soft', 'soft-1');
      await writeSecret(api, vaultId, 'del/soft', 'soft-2');
      const res = await del('del/soft');
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      expectError(await read('del/soft'), 404, 'not_found', 'secret not found');
      expectError(await read('del/soft', '?version=1'), 404, 'not_found', 'secret not found');
      expectError(await del('del/soft'), 404, 'not_found', 'secret not found');
      const listed = await api.request({
        method: 'GET',
        url: `/v1/vaults/${vaultId}/secrets?prefix=del/soft`,
      });
      expect(listed.json()).toEqual({ secrets: [], next_cursor: null });

      expect(await writeSecret(api, vaultId, 'del/soft', 'soft-3')).toBe(3);
      expect((await read('del/soft')).json()).toMatchObject({ value: 'soft-3', version: 3 });
      expect(await versionsOf('del/soft')).toEqual([1, 2, 3]);
    });

    it('destroy=true wipes the ciphertext and DEK of every version', async () => {
      for (const v of ['d1', 'd2', 'd3']) await writeSecret(api, vaultId, 'del/destroy', v);
      expect((await del('del/destroy', '?destroy=true')).statusCode).toBe(204);
      const rows = await api.db.pool.query(
        `SELECT v.version, v.ciphertext, v.wrapped_dek, v.destroyed_at IS NOT NULL AS destroyed
           FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
          WHERE s.path = 'del/destroy' ORDER BY v.version`,
      );
      expect(rows.rows).toEqual(
        [1, 2, 3].map((version) => ({ version, ciphertext: null, wrapped_dek: null, destroyed: true })),
      );
      expectError(await read('del/destroy'), 404, 'not_found', 'secret not found');
      // The history stays readable after the destroy: metadata only, every version destroyed.
      const destroyed = (
        await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/versions/del/destroy` })
      ).json() as { versions: Array<{ version: number; destroyed: boolean }> };
      expect(destroyed.versions.map((v) => [v.version, v.destroyed])).toEqual([
        [1, true],
        [2, true],
        [3, true],
      ]);

      // A new write starts a fresh, readable version 4; the destroyed ones answer 410.
      expect(await writeSecret(api, vaultId, 'del/destroy', 'reborn')).toBe(4);
      expect((await read('del/destroy')).json()).toMatchObject({ value: 'reborn', version: 4 });
      expectError(await read('del/destroy', '?version=2'), 410, 'gone', 'this secret version was destroyed');
      const history = (
        await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/versions/del/destroy` })
      ).json() as { versions: Array<{ version: number; destroyed: boolean }> };
      expect(history.versions.map((v) => [v.version, v.destroyed])).toEqual([
        [1, true],
        [2, true],
        [3, true],
        [4, false],
      ]);
    });

    it('destroy works on a secret that was already soft-deleted', async () => {
      await writeSecret(api, vaultId, 'del/later', 'later-1');
      expect((await del('del/later')).statusCode).toBe(204);
      expect((await del('del/later', '?destroy=true')).statusCode).toBe(204);
      const rows = await api.db.pool.query(
        `SELECT v.ciphertext FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.path = 'del/later'`,
      );
      expect(rows.rows).toEqual([{ ciphertext: null }]);
    });

    it('answers 404 to deleting a path that never existed', async () => {
      expectError(await del('del/nothing'), 404, 'not_found', 'secret not found');
      expectError(await del('del/nothing', '?destroy=true'), 404, 'not_found', 'secret not found');
    });
  });
});
