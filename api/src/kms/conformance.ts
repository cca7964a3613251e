// The one conformance suite every KMS backend passes against its real peer. Each backend's
// `<name>.conformance.test.ts` supplies how to open it; the behaviour checked is the same.
import { createPublicKey, type JsonWebKey, verify } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultWithNewKek } from '../../../test/support/vault-keys.js';
import { type Custody, createEnvelope, type VaultKeys } from '../crypto/envelope.js';
import { IntegrityError, KmsConfigError, KmsUnavailableError } from '../crypto/errors.js';
import { createLocalBackend } from './backends/local.js';
import { createKekCache } from './cache.js';
import { createKms, type Kms } from './kms.js';
import { callCount, createKmsMetrics, type KmsMetrics } from './metrics.js';
import type { BackendName, KmsBackend, KmsSigner, PublicJwk, WrapContext } from './types.js';

export interface ConformanceTarget {
  backend: BackendName;
  /** Opens the backend through the registry on a fresh root key of the real peer. */
  open(): Promise<KmsBackend>;
  /** Opening with a wrong key, credential or name must fail with KmsConfigError. */
  openMisconfigured(): Promise<unknown>;
  /** Opening against an endpoint where nothing answers must fail with KmsUnavailableError. */
  openUnreachable?: () => Promise<unknown>;
}

const ctx = (vault: string, kekVersion = '1'): WrapContext => ({
  purpose: 'kek',
  org_id: 'org-1',
  vault_id: vault,
  kek_version: kekVersion,
});

function flipBit(buf: Buffer, byte: number): Buffer {
  const out = Buffer.from(buf);
  out[byte] = (out[byte] ?? 0) ^ (1 << (byte % 8));
  return out;
}

async function expectIntegrityError(p: Promise<unknown>, what: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof IntegrityError)) {
    throw new Error(`${what}: expected IntegrityError, got ${err === undefined ? 'success' : String(err)}`);
  }
}

export function kmsConformance(target: ConformanceTarget): void {
  describe(`KMS conformance: ${target.backend}`, () => {
    let backend: KmsBackend;
    let metrics: KmsMetrics;
    let kms: Kms;
    const opened: KmsBackend[] = [];

    const open = async () => {
      const b = await target.open();
      opened.push(b);
      return b;
    };

    beforeAll(async () => {
      backend = await open();
      metrics = createKmsMetrics(new Registry());
      kms = createKms({ current: backend, metrics });
    });

    afterAll(async () => {
      await Promise.allSettled(opened.map((b) => b.close()));
    });

    it('wraps and unwraps through a blob that names the backend and key', async () => {
      const secret = Buffer.alloc(32, 7);
      const blob = await kms.wrap(secret, ctx('v1'));
      expect(blob.includes(secret)).toBe(false);
      expect(kms.keyOf(blob)).toMatchObject({ backend: target.backend, keyId: backend.keyId });
      expect(await kms.unwrap(blob, ctx('v1'))).toEqual(secret);
      // Wrapping is randomized: the same key material never yields the same blob twice.
      expect((await kms.wrap(secret, ctx('v1'))).equals(blob)).toBe(false);
    });

    it('rejects a blob presented under any other binding context', async () => {
      const blob = await kms.wrap(Buffer.alloc(32, 1), ctx('v1', '3'));
      await expectIntegrityError(kms.unwrap(blob, ctx('v2', '3')), 'other vault');
      await expectIntegrityError(kms.unwrap(blob, ctx('v1', '4')), 'other KEK version');
      await expectIntegrityError(kms.unwrap(blob, { ...ctx('v1', '3'), org_id: 'org-2' }), 'other org');
      await expectIntegrityError(kms.unwrap(blob, { ...ctx('v1', '3'), extra: 'x' }), 'extra field');
      const { kek_version: _dropped, ...missing } = ctx('v1', '3');
      await expectIntegrityError(kms.unwrap(blob, missing), 'missing field');
    });

    it('rejects a flipped bit anywhere in the blob with a typed integrity error', async () => {
      const blob = await kms.wrap(Buffer.alloc(32, 2), ctx('v1'));
      for (let i = 0; i < blob.length; i++) {
        await expectIntegrityError(kms.unwrap(flipBit(blob, i), ctx('v1')), `bit flipped in byte ${i}`);
      }
      await expectIntegrityError(kms.unwrap(blob.subarray(0, blob.length - 1), ctx('v1')), 'truncated');
      await expectIntegrityError(kms.unwrap(Buffer.concat([blob, Buffer.from([0])]), ctx('v1')), 'extended');
    });

    for (const custody of ['wrapped', 'kms'] as Custody[]) {
      describe(`envelope, custody ${custody}`, () => {
        const vaults = new Map<string, Buffer>();
        const vaultKeys = (vaultId: string): VaultKeys => ({
          orgId: 'org-1',
          vaultId,
          custody,
          currentKekVersion: 1,
          wrappedKek: (v) => (v === 1 ? vaults.get(vaultId) : undefined),
        });
        let env: ReturnType<typeof createEnvelope>;

        beforeAll(async () => {
          env = createEnvelope({ kms, cache: createKekCache({ maxEntries: 100, ttlMs: 60_000 }) });
          vaults.set('va', await env.createKek('org-1', 'va', 1));
          vaults.set('vb', await env.createKek('org-1', 'vb', 1));
        });

        it('opens only at the org, vault, path and version it was sealed for', async () => {
          const va = vaultKeys('va');
          const sealed = await env.seal(va, 'db/password', 2, Buffer.from('hunter2'));
          expect((await env.open(va, 'db/password', 2, sealed)).toString()).toBe('hunter2');
          await expectIntegrityError(env.open(va, 'db/other', 2, sealed), 'moved to another path');
          await expectIntegrityError(env.open(va, 'db/password', 3, sealed), 'moved to another version');
          await expectIntegrityError(
            env.open(vaultKeys('vb'), 'db/password', 2, sealed),
            'moved to another vault',
          );
          await expectIntegrityError(
            env.open({ ...va, orgId: 'org-2' }, 'db/password', 2, sealed),
            'moved to another org',
          );
        });

        it('rejects a wrapped KEK presented as another vault’s', async () => {
          const swapped: VaultKeys = { ...vaultKeys('vb'), wrappedKek: () => vaults.get('va') };
          const sealed = await env.seal(vaultKeys('va'), 'p', 1, Buffer.from('x'));
          await expectIntegrityError(env.open(swapped, 'p', 1, sealed), 'KEK of another vault');
          if (custody === 'wrapped')
            await expectIntegrityError(env.seal(swapped, 'p', 1, Buffer.from('x')), 'seal');
        });

        it('rejects a flipped bit in the value and in the wrapped DEK', async () => {
          const va = vaultKeys('va');
          const sealed = await env.seal(va, 'k', 1, Buffer.from('value bytes'));
          for (let i = 0; i < sealed.ciphertext.length; i++) {
            const ciphertext = flipBit(sealed.ciphertext, i);
            await expectIntegrityError(env.open(va, 'k', 1, { ...sealed, ciphertext }), `value byte ${i}`);
          }
          for (let i = 0; i < sealed.wrappedDek.length; i++) {
            const wrappedDek = flipBit(sealed.wrappedDek, i);
            await expectIntegrityError(env.open(va, 'k', 1, { ...sealed, wrappedDek }), `DEK byte ${i}`);
          }
        });
      });
    }

    it('keeps old blobs readable across a rotation to a new key, and re-wraps them', async () => {
      const oldBlob = await kms.wrap(Buffer.alloc(32, 3), ctx('v1'));
      if (backend.rotate) {
        await backend.rotate();
        const newBlob = await kms.wrap(Buffer.alloc(32, 4), ctx('v1'));
        expect(kms.keyOf(newBlob).keyVersion).not.toBe(kms.keyOf(oldBlob).keyVersion);
        expect(await kms.unwrap(oldBlob, ctx('v1'))).toEqual(Buffer.alloc(32, 3));
        expect(await kms.unwrap(newBlob, ctx('v1'))).toEqual(Buffer.alloc(32, 4));
      }
      // Rotation to another root key (or `kms migrate` to another backend): the old key stays
      // configured for decryption until every blob is re-wrapped.
      const next = await open();
      const rotated = createKms({ current: next, previous: [backend], metrics });
      expect(await rotated.unwrap(oldBlob, ctx('v1'))).toEqual(Buffer.alloc(32, 3));
      const env = createEnvelope({ kms: rotated, cache: createKekCache({ maxEntries: 10, ttlMs: 1_000 }) });
      const rewrapped = await env.rewrapKek('org-1', 'v1', 1, oldBlob, rotated);
      expect(rotated.keyOf(rewrapped).keyId).toBe(next.keyId);
      expect(await createKms({ current: next, metrics }).unwrap(rewrapped, ctx('v1'))).toEqual(
        Buffer.alloc(32, 3),
      );

      const local = createKms({ current: createLocalBackend(Buffer.alloc(32, 9)), metrics });
      const migrated = await env.rewrapKek('org-1', 'v1', 1, oldBlob, local);
      expect(local.keyOf(migrated).backend).toBe('local');
      expect(await local.unwrap(migrated, ctx('v1'))).toEqual(Buffer.alloc(32, 3));
    });

    it('serves 10,000 reads of one vault with at most one KMS unwrap, and coalesces cold misses', async () => {
      const m = createKmsMetrics(new Registry());
      const k = createKms({ current: backend, metrics: m });
      const cache = createKekCache({ maxEntries: 100, ttlMs: 60_000, metrics: m });
      const env = createEnvelope({ kms: k, cache });
      const vault = await vaultWithNewKek(env, 'org-1', 'hot');
      // Seal through a separate cache so the read cache starts cold.
      const writer = createEnvelope({ kms: k, cache: createKekCache({ maxEntries: 10, ttlMs: 60_000 }) });
      const secrets = await Promise.all(
        Array.from({ length: 20 }, (_, i) => writer.seal(vault, `s/${i}`, 1, Buffer.from(`value-${i}`))),
      );
      const before = await callCount(m, target.backend, 'unwrap');
      // 50 concurrent cold reads: one KMS call between them.
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => env.open(vault, `s/${i % 20}`, 1, secrets[i % 20] as never)),
      );
      expect((await callCount(m, target.backend, 'unwrap')) - before).toBe(1);
      for (let i = 0; i < 10_000; i++) {
        const out = await env.open(vault, `s/${i % 20}`, 1, secrets[i % 20] as never);
        if (out.toString() !== `value-${i % 20}`) throw new Error(`read ${i} returned the wrong value`);
      }
      expect((await callCount(m, target.backend, 'unwrap')) - before).toBeLessThanOrEqual(1);
    });

    it('fails closed when misconfigured', async () => {
      const err = await target.openMisconfigured().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KmsConfigError);
    });

    if (target.openUnreachable) {
      const openUnreachable = target.openUnreachable;
      it('fails closed, in bounded time, when the KMS is unreachable', async () => {
        const t0 = Date.now();
        const err = await openUnreachable().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(KmsUnavailableError);
        expect(Date.now() - t0).toBeLessThan(10_000);
      });
    }
  });
}

export interface SignerTarget {
  backend: BackendName;
  expectedAlg: 'EdDSA' | 'ES256';
  /** Opens the signer through the registry on a signing key of the real peer. */
  open(): Promise<KmsSigner>;
}

/** Verifies a JWS signature with nothing but node:crypto and the published JWK. */
function verifyJws(jwk: PublicJwk, data: Buffer, signature: Buffer): boolean {
  const { kid: _kid, alg: _alg, use: _use, ...material } = jwk;
  const key = createPublicKey({ key: material as JsonWebKey, format: 'jwk' });
  return jwk.alg === 'EdDSA'
    ? verify(null, data, key, signature)
    : verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
}

export function signerConformance(target: SignerTarget): void {
  describe(`KMS signer conformance: ${target.backend}`, () => {
    let signer: KmsSigner;
    beforeAll(async () => {
      signer = await target.open();
    });
    afterAll(async () => {
      await signer?.close?.();
    });

    it('signs JWS input that verifies against the published JWK, and nothing else', async () => {
      expect(signer.alg).toBe(target.expectedAlg);
      const jwk = await signer.publicJwk();
      expect(jwk).toMatchObject({ alg: target.expectedAlg, kid: signer.kid, use: 'sig' });
      expect(JSON.stringify(jwk)).not.toMatch(/"d"/);
      const input = Buffer.from('eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0ZXN0In0');
      const sig = await signer.sign(input);
      expect(sig.length).toBe(64);
      expect(verifyJws(jwk, input, sig)).toBe(true);
      expect(verifyJws(jwk, Buffer.concat([input, Buffer.from('x')]), sig)).toBe(false);
      const flipped = Buffer.from(sig);
      flipped[5] = (flipped[5] ?? 0) ^ 1;
      expect(verifyJws(jwk, input, flipped)).toBe(false);
    });
  });
}
