// Property tests: the blob parsers meet arbitrary bytes — truncations, garbage, valid headers
// over random bodies — and must answer with a typed IntegrityError, never crash, never return
// plaintext that was not sealed.

import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLocalBackend } from '../kms/backends/local.js';
import { decodeKmsBlob, encodeKmsBlob } from '../kms/blob.js';
import { createKms } from '../kms/kms.js';
import { createKmsMetrics } from '../kms/metrics.js';
import { BACKENDS } from '../kms/types.js';
import { openValue, parseWrappedDek, sealValue, unwrapDekWithKek, wrapDekWithKek } from './envelope.js';
import { IntegrityError } from './errors.js';

const bytes = fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a));

function onlyIntegrityErrors(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof IntegrityError) return true;
    throw err;
  }
}

describe('blob parsers on arbitrary bytes', () => {
  it('decodeKmsBlob throws only IntegrityError and round-trips what it accepts', () => {
    fc.assert(
      fc.property(bytes, (b) =>
        onlyIntegrityErrors(() => {
          const parsed = decodeKmsBlob(b);
          expect(encodeKmsBlob(parsed).equals(b)).toBe(true);
        }),
      ),
      { numRuns: 5_000 },
    );
  });

  it('decodeKmsBlob accepts every well-formed blob', () => {
    const blob = fc.record({
      backend: fc.constantFrom(...BACKENDS),
      keyId: fc.string({ maxLength: 200 }),
      keyVersion: fc.string({ maxLength: 20 }),
      ciphertext: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
    });
    fc.assert(
      fc.property(blob, (b) => {
        expect(decodeKmsBlob(encodeKmsBlob(b))).toEqual(b);
      }),
      { numRuns: 2_000 },
    );
  });

  it('parseWrappedDek and unwrapDekWithKek throw only IntegrityError', () => {
    const kek = randomBytes(32);
    fc.assert(
      fc.property(bytes, (b) => onlyIntegrityErrors(() => unwrapDekWithKek(kek, parseWrappedDek(b), 'v'))),
      { numRuns: 5_000 },
    );
  });

  it('openValue throws only IntegrityError', () => {
    const dek = randomBytes(32);
    const binding = { orgId: 'o', vaultId: 'v', path: 'p', version: 1 };
    fc.assert(
      fc.property(bytes, (b) => onlyIntegrityErrors(() => openValue(dek, b, binding))),
      { numRuns: 5_000 },
    );
  });

  it('a valid header over a random body never opens', () => {
    const dek = randomBytes(32);
    const kek = randomBytes(32);
    const binding = { orgId: 'o', vaultId: 'v', path: 'p', version: 1 };
    const value = sealValue(dek, Buffer.from('secret'), binding);
    const wrapped = wrapDekWithKek(kek, 1, dek, 'v');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: value.length - 1, maxLength: value.length - 1 }), (body) => {
        expect(() => openValue(dek, Buffer.concat([value.subarray(0, 1), body]), binding)).toThrow(
          IntegrityError,
        );
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: wrapped.length - 5, maxLength: wrapped.length - 5 }), (body) => {
        expect(() =>
          unwrapDekWithKek(kek, parseWrappedDek(Buffer.concat([wrapped.subarray(0, 5), body])), 'v'),
        ).toThrow(IntegrityError);
      }),
      { numRuns: 500 },
    );
  });

  it('Kms.unwrap of arbitrary bytes rejects with IntegrityError', async () => {
    const kms = createKms({
      current: createLocalBackend(randomBytes(32)),
      metrics: createKmsMetrics(new Registry()),
    });
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => {
        const err = await kms.unwrap(b, { purpose: 'kek' }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(IntegrityError);
      }),
      { numRuns: 2_000 },
    );
  });
});
