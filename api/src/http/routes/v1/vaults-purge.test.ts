// Crypto-shredding: `DELETE /v1/vaults/:id?purge=true` destroys every KEK and DEK of the vault,
// so nothing left in the database (even with the KMS root key in hand) decrypts its secrets.
// Also kms custody, where the KMS wraps each DEK directly.
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  createVault,
  expectError,
  putSecret,
  secretUrl,
  writeSecret,
} from '../../../../../test/support/api-helpers.js';
import { createEnvelope, DEK_FORMAT_KEK, DEK_FORMAT_KMS, type VaultKeys } from '../../../crypto/envelope.js';
import { IntegrityError } from '../../../crypto/errors.js';
import { createLocalBackend } from '../../../kms/backends/local.js';
import { createKekCache } from '../../../kms/cache.js';
import { createKms } from '../../../kms/kms.js';
import { createKmsMetrics } from '../../../kms/metrics.js';

interface VersionRow {
  path: string;
  version: number;
  ciphertext: Buffer | null;
  wrapped_dek: Buffer | null;
  destroyed_at: Date | null;
}

describe('vault purge and custody', () => {
  let api: TestApi;
  const masterKey = randomBytes(32);
  // What an attacker holding the KMS root key and a copy of the database would build.
  const metrics = createKmsMetrics(new Registry());
  const kms = createKms({ current: createLocalBackend(masterKey), metrics });
  const envelope = createEnvelope({ kms, cache: createKekCache({ maxEntries: 10, ttlMs: 60_000, metrics }) });

  beforeAll(async () => {
    api = await startTestApi({ ONECLAW_LOCAL_MASTER_KEY: masterKey.toString('base64') });
  });
  afterAll(async () => {
    await api?.close();
  });

  const versionRows = async (vaultId: string) =>
    (
      await api.db.pool.query<VersionRow>(
        `SELECT s.path, v.version, v.ciphertext, v.wrapped_dek, v.destroyed_at
           FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
          WHERE v.vault_id = $1 ORDER BY s.path, v.version`,
        [vaultId],
      )
    ).rows;

  /** The vault's keys exactly as the database holds them now. */
  const keysFromDb = async (vaultId: string): Promise<VaultKeys> => {
    const v = await api.db.pool.query(
      'SELECT org_id, custody, current_kek_version FROM vaults WHERE id = $1',
      [vaultId],
    );
    const keks = await api.db.pool.query<{ version: number; wrapped_kek: Buffer | null }>(
      'SELECT version, wrapped_kek FROM vault_keks WHERE vault_id = $1',
      [vaultId],
    );
    const byVersion = new Map(keks.rows.map((k) => [k.version, k.wrapped_kek ?? undefined]));
    return {
      orgId: v.rows[0].org_id,
      vaultId,
      custody: v.rows[0].custody,
      currentKekVersion: v.rows[0].current_kek_version,
      wrappedKek: (version) => byVersion.get(version),
    };
  };

  const openAll = (keys: VaultKeys, rows: VersionRow[]) =>
    Promise.allSettled(
      rows.map((r) =>
        envelope.open(keys, r.path, r.version, {
          ciphertext: r.ciphertext as Buffer,
          wrappedDek: r.wrapped_dek as Buffer,
        }),
      ),
    );

  const purge = (id: string) => api.request({ method: 'DELETE', url: `/v1/vaults/${id}?purge=true` });

  it('destroys every KEK and DEK; the blobs taken before the purge no longer open', async () => {
    const v = await createVault(api);
    const values = { 'app/a': 'purge-me-a', 'app/b': 'purge-me-b2' };
    await writeSecret(api, v.id, 'app/a', values['app/a']);
    await writeSecret(api, v.id, 'app/b', 'purge-me-b1');
    await writeSecret(api, v.id, 'app/b', values['app/b']);

    // Before: the rebuilt envelope opens every version from the database (the control).
    const before = await versionRows(v.id);
    expect(before).toHaveLength(3);
    expect(before.every((r) => r.wrapped_dek?.[0] === DEK_FORMAT_KEK)).toBe(true);
    const opened = await openAll(await keysFromDb(v.id), before);
    expect(opened.map((o) => (o.status === 'fulfilled' ? o.value.toString() : o.reason))).toEqual([
      'purge-me-a',
      'purge-me-b1',
      'purge-me-b2',
    ]);

    const res = await purge(v.id);
    expect(res.statusCode).toBe(204);

    const keks = await api.db.pool.query(
      'SELECT wrapped_kek, destroyed_at FROM vault_keks WHERE vault_id = $1',
      [v.id],
    );
    expect(keks.rows.length).toBeGreaterThan(0);
    for (const k of keks.rows) {
      expect(k.wrapped_kek).toBeNull();
      expect(k.destroyed_at).toBeInstanceOf(Date);
    }
    const after = await versionRows(v.id);
    expect(after).toHaveLength(3);
    for (const r of after) {
      expect(r.ciphertext).toBeNull();
      expect(r.wrapped_dek).toBeNull();
      expect(r.destroyed_at).toBeInstanceOf(Date);
    }
    // Even the ciphertexts and wrapped DEKs copied before the purge (a backup) do not open with
    // what the database holds now, although the root key is still at hand.
    const retry = await openAll(await keysFromDb(v.id), before);
    for (const r of retry) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(IntegrityError);
      expect(String((r as PromiseRejectedResult).reason)).toMatch(/no KEK version 1/);
    }
    // Nor does any other vault's KEK (the DEK is bound to its vault and KEK version).
    const other = await createVault(api);
    const borrowed = await keysFromDb(other.id);
    const foreign = await openAll({ ...borrowed, vaultId: v.id, orgId: borrowed.orgId }, before);
    expect(foreign.every((r) => r.status === 'rejected')).toBe(true);

    expectError(await api.request({ method: 'GET', url: `/v1/vaults/${v.id}` }), 404, 'not_found');
    expectError(await api.request({ method: 'GET', url: secretUrl(v.id, 'app/a') }), 404, 'not_found');
    const audit = await api.db.pool.query(
      `SELECT details, request_id FROM audit_events WHERE vault_id = $1 AND action = 'vault.purge'`,
      [v.id],
    );
    expect(audit.rows).toEqual([{ details: { keks_destroyed: 1 }, request_id: res.headers['x-request-id'] }]);
  });

  it('purges a vault that was soft-deleted first', async () => {
    const v = await createVault(api);
    await writeSecret(api, v.id, 'later/shredded', 'soft-then-purge');
    expect((await api.request({ method: 'DELETE', url: `/v1/vaults/${v.id}` })).statusCode).toBe(204);
    expect((await versionRows(v.id))[0]?.ciphertext).not.toBeNull();

    expect((await purge(v.id)).statusCode).toBe(204);
    const keks = await api.db.pool.query('SELECT wrapped_kek FROM vault_keks WHERE vault_id = $1', [v.id]);
    expect(keks.rows).toEqual([{ wrapped_kek: null }]);
    expect((await versionRows(v.id)).map((r) => [r.ciphertext, r.wrapped_dek])).toEqual([[null, null]]);
    // Once purged there is nothing left to purge.
    expectError(await purge(v.id), 404, 'not_found', 'vault not found');
  });

  describe('kms custody', () => {
    it('round-trips secrets with DEKs wrapped by the KMS itself', async () => {
      const v = await createVault(api, { custody: 'kms' });
      await writeSecret(api, v.id, 'svc/token', 'kms-custody-1');
      await writeSecret(api, v.id, 'svc/token', 'kms-custody-2');
      const latest = await api.request({ method: 'GET', url: secretUrl(v.id, 'svc/token') });
      expect(latest.statusCode).toBe(200);
      expect(latest.json()).toMatchObject({ path: 'svc/token', value: 'kms-custody-2', version: 2 });
      const first = await api.request({ method: 'GET', url: secretUrl(v.id, 'svc/token', '?version=1') });
      expect(first.json()).toMatchObject({ value: 'kms-custody-1', version: 1 });

      const rows = await versionRows(v.id);
      expect(rows.map((r) => r.wrapped_dek?.[0])).toEqual([DEK_FORMAT_KMS, DEK_FORMAT_KMS]);
      const kekVersions = await api.db.pool.query(
        'SELECT kek_version FROM secret_versions WHERE vault_id = $1',
        [v.id],
      );
      expect(kekVersions.rows).toEqual([{ kek_version: 0 }, { kek_version: 0 }]);
    });

    it('purge destroys every KMS-wrapped DEK', async () => {
      const v = await createVault(api, { custody: 'kms' });
      await writeSecret(api, v.id, 'svc/a', 'kms-purge-a');
      await writeSecret(api, v.id, 'svc/b', 'kms-purge-b');
      const before = await versionRows(v.id);
      expect((await openAll(await keysFromDb(v.id), before)).every((r) => r.status === 'fulfilled')).toBe(
        true,
      );

      expect((await purge(v.id)).statusCode).toBe(204);
      const after = await versionRows(v.id);
      expect(after).toHaveLength(2);
      for (const r of after) {
        expect([r.ciphertext, r.wrapped_dek]).toEqual([null, null]);
        expect(r.destroyed_at).toBeInstanceOf(Date);
      }
      const keks = await api.db.pool.query('SELECT wrapped_kek FROM vault_keks WHERE vault_id = $1', [v.id]);
      expect(keks.rows.every((k) => k.wrapped_kek === null)).toBe(true);
    });
  });

  describe('a write racing a purge', () => {
    /** Waits until at least `n` backends of this database wait on a lock. */
    const lockWaiters = async (n: number) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rows } = await api.db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if ((rows[0]?.n ?? 0) >= n) return;
        if (Date.now() > deadline) throw new Error(`fewer than ${n} lock waiters after 10s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    it.each(['wrapped', 'kms'] as const)(
      'in %s custody is either refused or shredded by the purge, never left readable or a 500',
      async (custody) => {
        const v = await createVault(api, { custody });
        await writeSecret(api, v.id, 'race/key', 'race-v1');
        // Block writes to the secrets table, so the write stops right after it has looked up
        // the vault; the purge then runs while the write is in flight.
        const blocker = await api.db.pool.connect();
        let put: ReturnType<typeof putSecret> | undefined;
        let del: ReturnType<typeof purge> | undefined;
        try {
          await blocker.query('BEGIN');
          await blocker.query('LOCK TABLE secrets IN SHARE MODE');
          put = putSecret(api, v.id, 'race/key', { value: 'race-v2-written-during-purge' });
          await lockWaiters(1);
          del = purge(v.id);
          // The purge either completes now or waits behind the write.
          await Promise.race([del, lockWaiters(2)]);
          await blocker.query('COMMIT');
        } finally {
          blocker.release();
        }
        const [putRes, delRes] = await Promise.all([put, del]);
        expect(delRes?.statusCode).toBe(204);
        expect([200, 404]).toContain(putRes?.statusCode);
        for (const r of await versionRows(v.id)) {
          expect({ version: r.version, ciphertext: r.ciphertext, wrapped_dek: r.wrapped_dek }).toEqual({
            version: r.version,
            ciphertext: null,
            wrapped_dek: null,
          });
        }
      },
    );
  });
});
