// CMEK through the SDK against a real, listening API on PostgreSQL: enabling, encrypted writes
// whose plaintext the server never sees, reads by key fingerprint, disabling, client-side
// rotation, and the server-assisted rotation job with its wrong-key refusals.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../test/support/api.js';
import { expectStoredNowhere } from '../../test/support/api-helpers.js';
import { rejectionOf } from '../../test/support/rejection.js';
import { createClient, type OneclawClient } from './client.js';
import { cmekDecrypt, cmekEncrypt, cmekFingerprint, fromBase64, generateCmekKey, toBase64 } from './cmek.js';
import { OneclawError } from './errors.js';
import type { CmekRotation } from './types.js';

const vaultName = () => `cmek-${randomUUID().slice(0, 8)}`;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('CMEK through the SDK against a real API', () => {
  let api: TestApi;
  let admin: OneclawClient;
  let baseUrl: string;

  beforeAll(async () => {
    api = await startTestApi({ ONECLAW_AUTH_RATE_LIMIT: '0' }, { listen: true });
    baseUrl = api.server.url as string;
    admin = createClient({ baseUrl, credentials: { apiKey: api.adminKey } });
  });
  afterAll(async () => {
    await api?.close();
  });

  /** A vault with CMEK on under `key`. */
  async function cmekVault(key: Uint8Array) {
    const v = await admin.vaults.create({ name: vaultName() });
    const enabled = await admin.cmek.enable(v.id, await cmekFingerprint(key));
    expect(enabled).toMatchObject({
      id: v.id,
      cmek_enabled: true,
      cmek_fingerprint: await cmekFingerprint(key),
    });
    return v.id;
  }

  it('encrypts on the client: the API holds only the blob, reads decrypt by fingerprint', async () => {
    const key = await generateCmekKey();
    const fp = await cmekFingerprint(key);
    const vaultId = await cmekVault(key);
    const plaintext = `cmek-plaintext-${randomUUID()}`;

    const written = await admin.cmek.putSecret(vaultId, 'app/db/password', key, plaintext, {
      type: 'password',
      metadata: { owner: 'sdk' },
    });
    expect(written.version).toBe(1);

    // What the API returns is the blob itself, and it decrypts to the plaintext here only.
    const raw = await admin.secrets.get(vaultId, 'app/db/password');
    expect(raw).toMatchObject({ cmek_encrypted: true, cmek_fingerprint: fp, version: 1 });
    const blob = fromBase64(raw.value);
    expect(blob[0]).toBe(0x01);
    expect(blob.length).toBe(1 + 12 + Buffer.byteLength(plaintext) + 16);
    expect(text(await cmekDecrypt(blob, key))).toBe(plaintext);
    const read = await admin.cmek.getSecret(vaultId, 'app/db/password', [await generateCmekKey(), key]);
    expect(text(read.plaintext)).toBe(plaintext);
    expect(read.metadata).toEqual({ owner: 'sdk' });
    const [listed] = (await admin.secrets.list(vaultId)).secrets;
    expect(listed).toMatchObject({ path: 'app/db/password', cmek_encrypted: true, cmek_fingerprint: fp });
    const [version] = await admin.secrets.versions(vaultId, 'app/db/password');
    expect(version).toMatchObject({ cmek_encrypted: true, cmek_fingerprint: fp });

    // The server never stored (or logged) the plaintext or the key.
    await expectStoredNowhere(api, plaintext);
    await expectStoredNowhere(api, toBase64(key));
    expect(JSON.stringify(api.logs)).not.toContain(plaintext);

    // A reader without the right key gets a typed error naming no secret material.
    const other = await generateCmekKey();
    await expect(admin.cmek.getSecret(vaultId, 'app/db/password', other)).rejects.toMatchObject({
      code: 'cmek_no_matching_key',
    });

    // The server refuses a non-blob value, and a blob under another key than the active one.
    const notBlob = await rejectionOf(
      admin.secrets.put(vaultId, 'x', { type: 'note', value: 'plain text' }),
      OneclawError,
    );
    expect(notBlob).toMatchObject({ status: 409, code: 'invalid_cmek_value', requestId: expect.any(String) });
    const stale = await rejectionOf(
      admin.cmek.putSecret(vaultId, 'x', other, 'v', { type: 'note' }),
      OneclawError,
    );
    expect(stale).toMatchObject({ status: 409, code: 'cmek_fingerprint_mismatch' });
    // Enabling again without naming the active key is a conflict.
    const again = await rejectionOf(admin.cmek.enable(vaultId, await cmekFingerprint(other)), OneclawError);
    expect(again).toMatchObject({ status: 409, code: 'cmek_already_enabled' });
  });

  it('disables: new writes are server-encrypted only, older versions stay CMEK and readable', async () => {
    const key = await generateCmekKey();
    const vaultId = await cmekVault(key);
    await admin.cmek.putSecret(vaultId, 's', key, 'under cmek', { type: 'note' });

    const wrong = await rejectionOf(
      admin.cmek.disable(vaultId, await cmekFingerprint(await generateCmekKey())),
      OneclawError,
    );
    expect(wrong).toMatchObject({ status: 409, code: 'cmek_fingerprint_mismatch' });
    expect(await admin.cmek.disable(vaultId, await cmekFingerprint(key))).toMatchObject({
      cmek_enabled: false,
      cmek_fingerprint: null,
    });
    const off = await rejectionOf(admin.cmek.disable(vaultId, await cmekFingerprint(key)), OneclawError);
    expect(off).toMatchObject({ status: 409, code: 'cmek_not_enabled' });

    await admin.secrets.put(vaultId, 's', { type: 'note', value: 'plain again' });
    expect(await admin.secrets.get(vaultId, 's')).toMatchObject({
      value: 'plain again',
      cmek_encrypted: false,
      cmek_fingerprint: null,
      version: 2,
    });
    expect(text((await admin.cmek.getSecret(vaultId, 's', key, { version: 1 })).plaintext)).toBe(
      'under cmek',
    );
    expect(text((await admin.cmek.getSecret(vaultId, 's', key)).plaintext)).toBe('plain again');
    const versions = await admin.secrets.versions(vaultId, 's');
    expect(versions.map((v) => [v.version, v.cmek_encrypted]).sort()).toEqual([
      [1, true],
      [2, false],
    ]);
  });

  it('rotates client-side: new key active, every current version re-encrypted, history under the old key', async () => {
    const oldKey = await generateCmekKey();
    const newKey = await generateCmekKey();
    const v = await admin.vaults.create({ name: vaultName() });
    await admin.secrets.put(v.id, 'before-cmek', { type: 'note', value: 'plain' });
    await admin.cmek.enable(v.id, await cmekFingerprint(oldKey));
    const paths = Array.from({ length: 12 }, (_, i) => `svc/${i}/token`);
    for (const p of paths) await admin.cmek.putSecret(v.id, p, oldKey, `value-of-${p}`, { type: 'api_key' });
    await admin.cmek.putSecret(v.id, 'limited', oldKey, 'three reads', { type: 'note', max_access_count: 3 });

    const progress: number[] = [];
    const result = await admin.cmek.rotateClientSide(v.id, {
      oldKey,
      newKey,
      onProgress: (p) => progress.push(p.processed),
    });
    expect(result).toMatchObject({ total: 14, rotated: 13, skipped: 1, left: [] });
    expect(progress.at(-1)).toBe(14);
    expect((await admin.vaults.get(v.id)).cmek_fingerprint).toBe(await cmekFingerprint(newKey));

    for (const p of paths) {
      const s = await admin.cmek.getSecret(v.id, p, newKey);
      expect({ p, value: text(s.plaintext), version: s.version }).toEqual({
        p,
        value: `value-of-${p}`,
        version: 2,
      });
      expect(text((await admin.cmek.getSecret(v.id, p, oldKey, { version: 1 })).plaintext)).toBe(
        `value-of-${p}`,
      );
    }
    // The count-limited secret keeps what was left after the rotation's own read.
    const limited = (await admin.secrets.versions(v.id, 'limited')).find((x) => x.version === 2);
    expect(limited).toMatchObject({ max_access_count: 2, cmek_fingerprint: await cmekFingerprint(newKey) });
    expect((await admin.secrets.get(v.id, 'before-cmek')).value).toBe('plain');

    // Running it again finds nothing left under the old key.
    const rerun = await admin.cmek.rotateClientSide(v.id, { oldKey, newKey });
    expect(rerun).toMatchObject({ rotated: 0, skipped: 14 });
  });

  it('rotates on the server: wrong keys refused before anything changes, then a pollable job to the end', async () => {
    const oldKey = await generateCmekKey();
    const newKey = await generateCmekKey();
    const oldFp = await cmekFingerprint(oldKey);
    const newFp = await cmekFingerprint(newKey);
    const vaultId = await cmekVault(oldKey);
    const n = 230;
    // Blobs made here and written directly: faster than one putSecret each, same bytes.
    await Promise.all(
      Array.from({ length: 10 }, async (_, w) => {
        for (let i = w; i < n; i += 10) {
          const blob = await cmekEncrypt(`secret-${i}`, oldKey);
          await admin.secrets.put(vaultId, `bulk/${i}`, {
            type: 'password',
            value: toBase64(blob),
            cmek_fingerprint: oldFp,
          });
        }
      }),
    );

    // A wrong old key: refused, nothing changed.
    const wrongOld = await rejectionOf(
      admin.cmek.startRotation(vaultId, { oldKey: await generateCmekKey(), newKey }),
      OneclawError,
    );
    expect(wrongOld).toMatchObject({ status: 409, code: 'cmek_key_mismatch', requestId: expect.any(String) });
    expect((await admin.vaults.get(vaultId)).cmek_fingerprint).toBe(oldFp);
    expect((await admin.secrets.get(vaultId, 'bulk/0')).cmek_fingerprint).toBe(oldFp);
    // A header that is not a 32-byte key.
    const bad = await fetch(`${baseUrl}/v1/vaults/${vaultId}/cmek-rotate`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await admin.token()}`,
        'content-type': 'application/json',
        'x-cmek-old-key': toBase64(oldKey.subarray(0, 16)),
        'x-cmek-new-key': toBase64(newKey),
      },
      body: JSON.stringify({ new_fingerprint: newFp }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_cmek_key');

    const job = await admin.cmek.startRotation(vaultId, { oldKey, newKey });
    expect(job).toMatchObject({ vault_id: vaultId, old_fingerprint: oldFp, new_fingerprint: newFp });
    expect((await admin.vaults.get(vaultId)).cmek_fingerprint).toBe(newFp);
    const seen: CmekRotation[] = [];
    const done = await admin.cmek.waitForRotation(vaultId, job.id, {
      intervalMs: 50,
      onProgress: (j) => seen.push(j),
    });
    expect(done).toMatchObject({
      id: job.id,
      status: 'succeeded',
      processed: n,
      total_secrets: n,
      error: null,
    });
    for (let i = 1; i < seen.length; i++) {
      expect((seen[i] as CmekRotation).processed).toBeGreaterThanOrEqual(
        (seen[i - 1] as CmekRotation).processed,
      );
    }
    expect(await admin.cmek.rotation(vaultId, job.id)).toMatchObject({ status: 'succeeded' });
    expect((await admin.cmek.rotations(vaultId)).map((r) => r.id)).toEqual([job.id]);

    // Every secret now reads under the new key alone; none is left under the old one.
    for await (const s of admin.secrets.listAll(vaultId)) expect(s.cmek_fingerprint).toBe(newFp);
    for (const i of [0, 99, 100, 229]) {
      expect(text((await admin.cmek.getSecret(vaultId, `bulk/${i}`, newKey)).plaintext)).toBe(`secret-${i}`);
    }
    // The keys were never logged.
    const logs = JSON.stringify(api.logs);
    expect(logs).not.toContain(toBase64(oldKey));
    expect(logs).not.toContain(toBase64(newKey));
  });

  it('starts a KMS migration job', async () => {
    const v = await admin.vaults.create({ name: vaultName() });
    const job = await admin.kms.migrate({ vaultId: v.id });
    expect(job).toMatchObject({ kind: 'kms-migrate', id: expect.any(String) });
    let seen = await admin.jobs.get(job.id);
    for (let i = 0; i < 100 && (seen.status === 'pending' || seen.status === 'running'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await admin.jobs.get(job.id);
    }
    expect(seen.status).toBe('succeeded');
  });
});
