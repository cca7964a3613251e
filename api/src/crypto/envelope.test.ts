// KEK rotation at the envelope level: a new KEK version takes new writes, old versions keep
// opening, and re-wrapping moves a DEK to the new KEK without touching the value ciphertext.
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLocalBackend } from '../kms/backends/local.js';
import { createKekCache } from '../kms/cache.js';
import { createKms } from '../kms/kms.js';
import { callCount, createKmsMetrics } from '../kms/metrics.js';
import { createEnvelope, parseWrappedDek, type VaultKeys } from './envelope.js';
import { IntegrityError } from './errors.js';

function setup() {
  const metrics = createKmsMetrics(new Registry());
  const kms = createKms({ current: createLocalBackend(randomBytes(32)), metrics });
  const env = createEnvelope({ kms, cache: createKekCache({ maxEntries: 10, ttlMs: 60_000, metrics }) });
  const keks = new Map<number, Buffer>();
  const vault = (current: number): VaultKeys => ({
    orgId: 'org',
    vaultId: 'vault',
    custody: 'wrapped',
    currentKekVersion: current,
    wrappedKek: (v) => keks.get(v),
  });
  return { env, keks, vault, metrics };
}

describe('KEK rotation', () => {
  it('writes under the new KEK version, keeps old versions readable, and re-wraps DEKs only', async () => {
    const { env, keks, vault } = setup();
    keks.set(1, await env.createKek('org', 'vault', 1));
    const old = await env.seal(vault(1), 'a/b', 1, Buffer.from('before rotation'));
    expect(old.kekVersion).toBe(1);

    keks.set(2, await env.createKek('org', 'vault', 2));
    const v2 = vault(2);
    const fresh = await env.seal(v2, 'a/b', 2, Buffer.from('after rotation'));
    expect(fresh.kekVersion).toBe(2);
    expect((await env.open(v2, 'a/b', 1, old)).toString()).toBe('before rotation');

    const rewrapped = await env.rewrapDek(v2, old.wrappedDek);
    expect(rewrapped.kekVersion).toBe(2);
    expect(parseWrappedDek(rewrapped.wrappedDek).kekVersion).toBe(2);
    // Only the DEK moved: the same value ciphertext opens under the re-wrapped DEK.
    const moved = { ciphertext: old.ciphertext, wrappedDek: rewrapped.wrappedDek };
    expect((await env.open(v2, 'a/b', 1, moved)).toString()).toBe('before rotation');
    // Re-wrapping what is already current is a no-op (a resumed job can run it twice).
    expect((await env.rewrapDek(v2, rewrapped.wrappedDek)).wrappedDek.equals(rewrapped.wrappedDek)).toBe(
      true,
    );

    // Once KEK 1 is gone (after the job), only re-wrapped data still opens.
    keks.delete(1);
    expect((await env.open(v2, 'a/b', 1, moved)).toString()).toBe('before rotation');
    await expect(env.open(v2, 'a/b', 1, old)).rejects.toBeInstanceOf(IntegrityError);
  });

  it('rejects a wrapped DEK whose KEK version header was changed', async () => {
    const { env, keks, vault } = setup();
    keks.set(1, await env.createKek('org', 'vault', 1));
    keks.set(2, await env.createKek('org', 'vault', 2));
    const sealed = await env.seal(vault(1), 'p', 1, Buffer.from('x'));
    const forged = Buffer.from(sealed.wrappedDek);
    forged.writeUInt32BE(2, 1);
    await expect(env.open(vault(2), 'p', 1, { ...sealed, wrappedDek: forged })).rejects.toBeInstanceOf(
      IntegrityError,
    );
  });

  it('custody kms: the KMS wraps every DEK, and there is no KEK to cache', async () => {
    const { env, metrics } = setup();
    const vault: VaultKeys = {
      orgId: 'org',
      vaultId: 'strict',
      custody: 'kms',
      currentKekVersion: 1,
      wrappedKek: () => undefined,
    };
    const sealed = await Promise.all([1, 2, 3].map((v) => env.seal(vault, 'p', v, Buffer.from(`v${v}`))));
    expect(sealed.every((s) => s.kekVersion === 0 && s.wrappedDek[0] === 0x02)).toBe(true);
    for (const [i, s] of sealed.entries())
      expect((await env.open(vault, 'p', i + 1, s)).toString()).toBe(`v${i + 1}`);
    expect(await callCount(metrics, 'local', 'wrap')).toBe(3);
    expect(await callCount(metrics, 'local', 'unwrap')).toBe(3);
  });
});

describe('KEK cache pressure', () => {
  it('opens every value while concurrent requests evict each other’s KEKs from a one-entry cache', async () => {
    const kms = createKms({
      current: createLocalBackend(randomBytes(32)),
      metrics: createKmsMetrics(new Registry()),
    });
    const env = createEnvelope({ kms, cache: createKekCache({ maxEntries: 1, ttlMs: 60_000 }) });
    const vaults = await Promise.all(
      ['v1', 'v2', 'v3'].map(async (vaultId): Promise<VaultKeys> => {
        const kek = await env.createKek('org', vaultId, 1);
        return { orgId: 'org', vaultId, custody: 'wrapped', currentKekVersion: 1, wrappedKek: () => kek };
      }),
    );
    const sealed = await Promise.all(
      vaults.map(async (v) => ({ v, s: await env.seal(v, 'p', 1, Buffer.from(`value of ${v.vaultId}`)) })),
    );
    // Interleaved opens: each miss that lands evicts the entry another open is about to use.
    const opened = await Promise.all(
      Array.from({ length: 60 }, (_, i) => sealed[i % sealed.length] as (typeof sealed)[number]).map(
        async ({ v, s }) => `${v.vaultId}:${(await env.open(v, 'p', 1, s)).toString()}`,
      ),
    );
    for (const [i, text] of opened.entries()) {
      const id = `v${(i % 3) + 1}`;
      expect(text).toBe(`${id}:value of ${id}`);
    }
  });
});
