// The CMEK helpers against the checked-in vectors (sdk/test-vectors/cmek.json), both ways, and
// against an independent AES-256-GCM (node:crypto createCipheriv/createDecipheriv) so the vectors
// are not merely what this code happens to produce. Also the typed failures and base64 rules.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rejectionOf } from '../../test/support/rejection.js';
import { repoRoot } from '../../test/support/tools.js';
import {
  CmekError,
  cmekDecrypt,
  cmekEncrypt,
  cmekFingerprint,
  fromBase64,
  generateCmekKey,
  toBase64,
  toHex,
} from './cmek.js';

interface Vectors {
  encryption: Array<{
    name: string;
    key_hex: string;
    iv_hex: string;
    plaintext_hex?: string;
    plaintext_utf8?: string;
    blob_hex: string;
  }>;
  fingerprint: Array<{ key_hex: string; key_base64: string; fingerprint: string }>;
}

const vectors = JSON.parse(readFileSync(join(repoRoot, 'sdk/test-vectors/cmek.json'), 'utf8')) as Vectors;
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));

/** The format built by hand with node:crypto, independently of cmek.ts. */
function referenceEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x01]), iv, ct, c.getAuthTag()]));
}

function referenceDecrypt(key: Uint8Array, blob: Uint8Array): Uint8Array {
  const b = Buffer.from(blob);
  const d = createDecipheriv('aes-256-gcm', key, b.subarray(1, 13));
  d.setAuthTag(b.subarray(b.length - 16));
  return new Uint8Array(Buffer.concat([d.update(b.subarray(13, b.length - 16)), d.final()]));
}

describe('CMEK test vectors', () => {
  it('covers empty, UTF-8 and multi-KiB plaintexts', () => {
    const sizes = vectors.encryption.map((v) =>
      v.plaintext_utf8 !== undefined
        ? Buffer.byteLength(v.plaintext_utf8)
        : (v.plaintext_hex ?? '').length / 2,
    );
    expect(sizes).toContain(0);
    expect(Math.max(...sizes)).toBeGreaterThan(4096);
    expect(
      vectors.encryption.some(
        (v) => Buffer.byteLength(v.plaintext_utf8 ?? '') > (v.plaintext_utf8 ?? '').length,
      ),
    ).toBe(true);
  });

  for (const v of vectors.encryption) {
    it(`${v.name}: encrypt reproduces the blob, decrypt returns the plaintext, node:crypto agrees`, async () => {
      const key = bytes(v.key_hex);
      const iv = bytes(v.iv_hex);
      const plain =
        v.plaintext_utf8 !== undefined
          ? new TextEncoder().encode(v.plaintext_utf8)
          : bytes(v.plaintext_hex ?? '');
      const input = v.plaintext_utf8 ?? plain;

      const blob = await cmekEncrypt(input, key, { iv });
      expect(toHex(blob)).toBe(v.blob_hex);
      expect(blob.length).toBe(1 + 12 + plain.length + 16);
      expect(blob[0]).toBe(0x01);

      expect(toHex(await cmekDecrypt(bytes(v.blob_hex), key))).toBe(toHex(plain));
      if (v.plaintext_utf8 !== undefined) {
        expect(new TextDecoder().decode(await cmekDecrypt(bytes(v.blob_hex), key))).toBe(v.plaintext_utf8);
      }

      // Independent implementation: the same bytes out, and it reads what cmek.ts writes.
      expect(toHex(referenceEncrypt(key, iv, plain))).toBe(v.blob_hex);
      const fresh = await cmekEncrypt(input, key); // random IV
      expect(toHex(referenceDecrypt(key, fresh))).toBe(toHex(plain));
    });
  }

  it('fingerprints are SHA-256 of the raw key, lowercase hex, and keys round-trip through base64', async () => {
    expect(vectors.fingerprint.length).toBeGreaterThanOrEqual(3);
    for (const f of vectors.fingerprint) {
      const key = bytes(f.key_hex);
      expect(await cmekFingerprint(key)).toBe(f.fingerprint);
      expect(createHash('sha256').update(key).digest('hex')).toBe(f.fingerprint);
      expect(f.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(toBase64(key)).toBe(f.key_base64);
      expect(toHex(fromBase64(f.key_base64))).toBe(f.key_hex);
    }
  });
});

describe('CMEK helpers', () => {
  it('generates distinct 32-byte keys and uses a fresh IV per encryption', async () => {
    const a = await generateCmekKey();
    const b = await generateCmekKey();
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(32);
    expect(toHex(a)).not.toBe(toHex(b));
    const x = await cmekEncrypt('same', a);
    const y = await cmekEncrypt('same', a);
    expect(toHex(x.subarray(1, 13))).not.toBe(toHex(y.subarray(1, 13)));
    expect(new TextDecoder().decode(await cmekDecrypt(x, a))).toBe('same');
  });

  it('fails with typed errors on a wrong key, tampering, a short blob, another version, a bad key size', async () => {
    const key = await generateCmekKey();
    const blob = await cmekEncrypt('top secret', key);

    const wrongKey = await rejectionOf(cmekDecrypt(blob, await generateCmekKey()), CmekError);
    expect(wrongKey.code).toBe('cmek_decrypt_failed');
    expect(wrongKey.message).not.toContain('top secret');

    for (const at of [1, 13, blob.length - 1]) {
      const tampered = new Uint8Array(blob);
      tampered[at] = (tampered[at] as number) ^ 1;
      expect((await rejectionOf(cmekDecrypt(tampered, key), CmekError)).code).toBe('cmek_decrypt_failed');
    }

    const short = await rejectionOf(cmekDecrypt(blob.subarray(0, 28), key), CmekError);
    expect(short.code).toBe('cmek_blob_too_short');
    expect(short.message).toMatch(/at least 29 bytes/);

    const v2 = new Uint8Array(blob);
    v2[0] = 0x02;
    const version = await rejectionOf(cmekDecrypt(v2, key), CmekError);
    expect(version.code).toBe('cmek_unsupported_version');
    expect(version.message).toContain('0x02');

    expect((await rejectionOf(cmekEncrypt('x', key.subarray(0, 16)), CmekError)).code).toBe(
      'cmek_invalid_key',
    );
    expect((await rejectionOf(cmekFingerprint(new Uint8Array(33)), CmekError)).code).toBe('cmek_invalid_key');
    expect((await rejectionOf(cmekEncrypt('x', key, { iv: new Uint8Array(16) }), CmekError)).code).toBe(
      'cmek_invalid_key',
    );
  });

  it('takes the data first and the key second, as the reference guide documents them', async () => {
    const key = await generateCmekKey();
    const plaintext = new Uint8Array(32).fill(7); // as long as a key: the order alone decides
    const blob = await cmekEncrypt(plaintext, key);
    expect(toHex(referenceDecrypt(Buffer.from(key), blob))).toBe(toHex(plaintext));
    expect(toHex(await cmekDecrypt(blob, key))).toBe(toHex(plaintext));
  });

  it('refuses arguments that look swapped instead of misusing them', async () => {
    const key = await generateCmekKey();
    const blob = await cmekEncrypt('card 4111', key);
    const swappedEncrypt = [
      cmekEncrypt(key, 'card 4111' as unknown as Uint8Array), // a key-first call with a string value
      cmekEncrypt(key, new TextEncoder().encode('card 4111')), // a key-first call with bytes
    ];
    for (const call of swappedEncrypt) {
      const err = await rejectionOf(call, CmekError);
      expect(err.code).toBe('cmek_arguments_swapped');
      expect(err.message).toContain('cmekEncrypt(plaintext, key)');
    }
    expect((await rejectionOf(cmekDecrypt(key, blob), CmekError)).code).toBe('cmek_arguments_swapped');
    // A 3-byte value makes a 32-byte blob, the size of a key: the format byte still tells.
    const small = await cmekEncrypt('abc', key);
    expect(small.length).toBe(32);
    key[0] = 0x02;
    const fresh = await cmekEncrypt('abc', key);
    expect((await rejectionOf(cmekDecrypt(key, fresh), CmekError)).code).toBe('cmek_arguments_swapped');
    expect(new TextDecoder().decode(await cmekDecrypt(fresh, key))).toBe('abc');
  });

  it('base64 is standard and padded, agrees with Buffer, and rejects anything else', () => {
    for (let n = 0; n < 70; n++) {
      const b = new Uint8Array(randomBytes(n));
      const s = toBase64(b);
      expect(s).toBe(Buffer.from(b).toString('base64'));
      expect(toHex(fromBase64(s))).toBe(toHex(b));
    }
    expect(toBase64(new Uint8Array([0xfb, 0xff]))).toBe('+/8=');
    for (const bad of [
      '-_8=',
      '+/8',
      'QQ',
      'QQ=',
      'Q===',
      'QR==',
      'QUJD\n',
      ' QUJD',
      'QU=D',
      '=QUJ',
      'QUJDé===',
    ]) {
      let err: unknown;
      try {
        fromBase64(bad);
      } catch (e) {
        err = e;
      }
      expect({ bad, code: (err as CmekError | undefined)?.code }).toEqual({ bad, code: 'invalid_base64' });
    }
    expect(fromBase64('')).toEqual(new Uint8Array(0));
  });
});
