// The GCP KMS emulator, driven only through the official @google-cloud/kms client over gRPC.
import { createHash, randomBytes, verify } from 'node:crypto';
import { crc32c } from '@aws-crypto/crc32c';
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GCP_KMS_TEST_PROJECT, gcpKmsTestClient } from './client.js';
import { type GcpKmsEmulator, startGcpKmsEmulator } from './server.js';

const LOCATION = `projects/${GCP_KMS_TEST_PROJECT}/locations/global`;
const INVALID_CIPHERTEXT = 'Decryption failed: the ciphertext is invalid.';

let emulator: GcpKmsEmulator;
let client: KeyManagementServiceClient;
let ringName: string;
let keyCounter = 0;

async function expectGrpcError(call: Promise<unknown>, code: status, message?: string): Promise<void> {
  const err: unknown = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the call to fail').toBeInstanceOf(Error);
  expect((err as { code?: number }).code).toBe(code);
  if (message !== undefined) expect((err as { details?: string }).details).toBe(message);
}

function crcOf(data: Uint8Array | string): number {
  return crc32c(typeof data === 'string' ? Buffer.from(data) : data);
}

function num(v: { value?: unknown } | null | undefined): number {
  return Number(v?.value);
}

async function newKey(
  purpose: 'ENCRYPT_DECRYPT' | 'ASYMMETRIC_SIGN' = 'ENCRYPT_DECRYPT',
  algorithm?: 'EC_SIGN_ED25519' | 'EC_SIGN_P256_SHA256',
): Promise<string> {
  const [key] = await client.createCryptoKey({
    parent: ringName,
    cryptoKeyId: `key-${++keyCounter}`,
    cryptoKey: { purpose, ...(algorithm ? { versionTemplate: { algorithm } } : {}) },
  });
  if (!key.name) throw new Error('createCryptoKey returned no name');
  return key.name;
}

async function encryptWith(name: string, plaintext: Buffer, aad?: Buffer) {
  const [res] = await client.encrypt({
    name,
    plaintext,
    ...(aad ? { additionalAuthenticatedData: aad } : {}),
  });
  return res;
}

beforeAll(async () => {
  emulator = await startGcpKmsEmulator({ port: 0 });
  client = gcpKmsTestClient(emulator.host, emulator.port);
  const [ring] = await client.createKeyRing({ parent: LOCATION, keyRingId: 'ring-1' });
  ringName = ring.name ?? '';
});

afterAll(async () => {
  await client?.close();
  await emulator?.close();
});

describe('GCP KMS emulator: resources', () => {
  it('creates and gets key rings and symmetric keys, with version 1 as primary', async () => {
    expect(ringName).toBe(`${LOCATION}/keyRings/ring-1`);
    const [ring] = await client.getKeyRing({ name: ringName });
    expect(ring.name).toBe(ringName);
    expect(Number(ring.createTime?.seconds)).toBeGreaterThan(0);

    const name = await newKey();
    const [key] = await client.getCryptoKey({ name });
    expect(key.purpose).toBe('ENCRYPT_DECRYPT');
    expect(key.versionTemplate?.algorithm).toBe('GOOGLE_SYMMETRIC_ENCRYPTION');
    expect(key.primary?.name).toBe(`${name}/cryptoKeyVersions/1`);
    expect(key.primary?.state).toBe('ENABLED');
    expect(key.primary?.protectionLevel).toBe('SOFTWARE');
  });

  it('rejects duplicates, unknown parents and bad ids', async () => {
    await expectGrpcError(
      client.createKeyRing({ parent: LOCATION, keyRingId: 'ring-1' }),
      status.ALREADY_EXISTS,
      `KeyRing ${ringName} already exists.`,
    );
    const missingRing = `${LOCATION}/keyRings/no-such-ring`;
    await expectGrpcError(
      client.createCryptoKey({
        parent: missingRing,
        cryptoKeyId: 'k',
        cryptoKey: { purpose: 'ENCRYPT_DECRYPT' },
      }),
      status.NOT_FOUND,
      `KeyRing ${missingRing} not found.`,
    );
    await expectGrpcError(
      client.createKeyRing({ parent: LOCATION, keyRingId: 'bad id!' }),
      status.INVALID_ARGUMENT,
    );
    await expectGrpcError(
      client.createCryptoKey({ parent: ringName, cryptoKeyId: 'nopurpose', cryptoKey: {} }),
      status.INVALID_ARGUMENT,
    );
    await expectGrpcError(
      client.createCryptoKey({
        parent: ringName,
        cryptoKeyId: 'noalg',
        cryptoKey: { purpose: 'ASYMMETRIC_SIGN' },
      }),
      status.INVALID_ARGUMENT,
    );
  });

  it('returns NOT_FOUND for unknown key rings, keys and versions', async () => {
    const unknownKey = `${ringName}/cryptoKeys/unknown`;
    await expectGrpcError(
      client.getKeyRing({ name: `${LOCATION}/keyRings/unknown` }),
      status.NOT_FOUND,
      `KeyRing ${LOCATION}/keyRings/unknown not found.`,
    );
    await expectGrpcError(
      client.getCryptoKey({ name: unknownKey }),
      status.NOT_FOUND,
      `CryptoKey ${unknownKey} not found.`,
    );
    await expectGrpcError(
      client.encrypt({ name: unknownKey, plaintext: Buffer.from('x') }),
      status.NOT_FOUND,
      `CryptoKey ${unknownKey} not found.`,
    );
    await expectGrpcError(
      client.decrypt({ name: unknownKey, ciphertext: Buffer.from('x') }),
      status.NOT_FOUND,
      `CryptoKey ${unknownKey} not found.`,
    );
    const name = await newKey();
    await expectGrpcError(
      client.getCryptoKeyVersion({ name: `${name}/cryptoKeyVersions/9` }),
      status.NOT_FOUND,
      `CryptoKeyVersion ${name}/cryptoKeyVersions/9 not found.`,
    );
  });

  it('honours skip_initial_version_creation', async () => {
    const [key] = await client.createCryptoKey({
      parent: ringName,
      cryptoKeyId: 'empty-key',
      cryptoKey: { purpose: 'ENCRYPT_DECRYPT' },
      skipInitialVersionCreation: true,
    });
    expect(key.primary).toBeFalsy();
    const [versions] = await client.listCryptoKeyVersions({ parent: key.name ?? '' });
    expect(versions).toHaveLength(0);
    await expectGrpcError(
      client.encrypt({ name: key.name ?? '', plaintext: Buffer.from('x') }),
      status.FAILED_PRECONDITION,
    );

    const [v1] = await client.createCryptoKeyVersion({ parent: key.name ?? '', cryptoKeyVersion: {} });
    expect(v1.name).toBe(`${key.name}/cryptoKeyVersions/1`);
    const [updated] = await client.updateCryptoKeyPrimaryVersion({
      name: key.name ?? '',
      cryptoKeyVersionId: '1',
    });
    expect(updated.primary?.name).toBe(v1.name);
  });

  it('schedules destruction after the key destroy_scheduled_duration, which must be 24h to 120d', async () => {
    const [key] = await client.createCryptoKey({
      parent: ringName,
      cryptoKeyId: 'two-day-key',
      cryptoKey: { purpose: 'ENCRYPT_DECRYPT', destroyScheduledDuration: { seconds: 2 * 86_400 } },
    });
    expect(Number(key.destroyScheduledDuration?.seconds)).toBe(2 * 86_400);
    const [destroyed] = await client.destroyCryptoKeyVersion({ name: `${key.name}/cryptoKeyVersions/1` });
    const days = (Number(destroyed.destroyTime?.seconds) * 1000 - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(1.9);
    expect(days).toBeLessThanOrEqual(2);
    await expectGrpcError(
      client.createCryptoKey({
        parent: ringName,
        cryptoKeyId: 'one-hour-key',
        cryptoKey: { purpose: 'ENCRYPT_DECRYPT', destroyScheduledDuration: { seconds: 3600 } },
      }),
      status.INVALID_ARGUMENT,
    );
  });

  it('answers UNIMPLEMENTED for methods the emulator does not serve', async () => {
    await expectGrpcError(
      client.generateRandomBytes({ location: LOCATION, lengthBytes: 8 }),
      status.UNIMPLEMENTED,
    );
  });

  it('never asks google-auth-library for credentials', async () => {
    const fresh = gcpKmsTestClient(emulator.host, emulator.port);
    const getClient = vi
      .spyOn(fresh.auth, 'getClient')
      .mockRejectedValue(new Error('credentials were requested'));
    try {
      const [ring] = await fresh.getKeyRing({ name: ringName });
      expect(ring.name).toBe(ringName);
      expect(await fresh.getProjectId()).toBe(GCP_KMS_TEST_PROJECT);
      expect(getClient).not.toHaveBeenCalled();
    } finally {
      await fresh.close();
    }
  });
});

describe('GCP KMS emulator: Encrypt / Decrypt', () => {
  it('round-trips with AAD and verifies every CRC32C field', async () => {
    const name = await newKey();
    const plaintext = randomBytes(32);
    const aad = Buffer.from('secret/ns/app');
    const [enc] = await client.encrypt({
      name,
      plaintext,
      additionalAuthenticatedData: aad,
      plaintextCrc32c: { value: crcOf(plaintext) },
      additionalAuthenticatedDataCrc32c: { value: crcOf(aad) },
    });
    expect(enc.name).toBe(`${name}/cryptoKeyVersions/1`);
    expect(enc.verifiedPlaintextCrc32c).toBe(true);
    expect(enc.verifiedAdditionalAuthenticatedDataCrc32c).toBe(true);
    expect(enc.protectionLevel).toBe('SOFTWARE');
    const ciphertext = Buffer.from(enc.ciphertext as Uint8Array);
    expect(num(enc.ciphertextCrc32c)).toBe(crcOf(ciphertext));
    expect(ciphertext.includes(plaintext)).toBe(false);

    const [dec] = await client.decrypt({
      name,
      ciphertext,
      additionalAuthenticatedData: aad,
      ciphertextCrc32c: { value: crcOf(ciphertext) },
      additionalAuthenticatedDataCrc32c: { value: crcOf(aad) },
    });
    expect(Buffer.from(dec.plaintext as Uint8Array).equals(plaintext)).toBe(true);
    expect(num(dec.plaintextCrc32c)).toBe(crcOf(plaintext));
    expect(dec.usedPrimary).toBe(true);
    expect(dec.protectionLevel).toBe('SOFTWARE');
  });

  it('reports unverified checksums when none are sent, and encrypts with a random IV', async () => {
    const name = await newKey();
    const a = await encryptWith(name, Buffer.from('same'));
    const b = await encryptWith(name, Buffer.from('same'));
    expect(a.verifiedPlaintextCrc32c).toBe(false);
    expect(a.verifiedAdditionalAuthenticatedDataCrc32c).toBe(false);
    expect(Buffer.from(a.ciphertext as Uint8Array).equals(Buffer.from(b.ciphertext as Uint8Array))).toBe(
      false,
    );
  });

  it('fails decryption with the wrong AAD', async () => {
    const name = await newKey();
    const enc = await encryptWith(name, Buffer.from('payload'), Buffer.from('aad-1'));
    await expectGrpcError(
      client.decrypt({ name, ciphertext: enc.ciphertext, additionalAuthenticatedData: Buffer.from('aad-2') }),
      status.INVALID_ARGUMENT,
      INVALID_CIPHERTEXT,
    );
    await expectGrpcError(
      client.decrypt({ name, ciphertext: enc.ciphertext }),
      status.INVALID_ARGUMENT,
      INVALID_CIPHERTEXT,
    );
  });

  it('fails decryption of a tampered ciphertext, or with another key', async () => {
    const name = await newKey();
    const enc = await encryptWith(name, Buffer.from('payload'));
    const original = Buffer.from(enc.ciphertext as Uint8Array);
    for (const index of [0, 4, 10, original.length - 20, original.length - 1]) {
      const tampered = Buffer.from(original);
      tampered[index] = (tampered[index] ?? 0) ^ 0x01;
      await expectGrpcError(
        client.decrypt({ name, ciphertext: tampered }),
        status.INVALID_ARGUMENT,
        INVALID_CIPHERTEXT,
      );
    }
    await expectGrpcError(
      client.decrypt({ name, ciphertext: original.subarray(0, original.length - 1) }),
      status.INVALID_ARGUMENT,
      INVALID_CIPHERTEXT,
    );
    const other = await newKey();
    await expectGrpcError(
      client.decrypt({ name: other, ciphertext: original }),
      status.INVALID_ARGUMENT,
      INVALID_CIPHERTEXT,
    );
    const [dec] = await client.decrypt({ name, ciphertext: original });
    expect(Buffer.from(dec.plaintext as Uint8Array).toString()).toBe('payload');
  });

  it('rejects mismatched CRC32C checksums', async () => {
    const name = await newKey();
    const plaintext = Buffer.from('payload');
    const aad = Buffer.from('aad');
    await expectGrpcError(
      client.encrypt({ name, plaintext, plaintextCrc32c: { value: crcOf(plaintext) ^ 1 } }),
      status.INVALID_ARGUMENT,
      'The checksum in field plaintext_crc32c did not match the data in field plaintext.',
    );
    await expectGrpcError(
      client.encrypt({
        name,
        plaintext,
        additionalAuthenticatedData: aad,
        additionalAuthenticatedDataCrc32c: { value: crcOf(aad) + 1 },
      }),
      status.INVALID_ARGUMENT,
      'The checksum in field additional_authenticated_data_crc32c did not match the data in field additional_authenticated_data.',
    );
    const enc = await encryptWith(name, plaintext, aad);
    const ciphertext = Buffer.from(enc.ciphertext as Uint8Array);
    await expectGrpcError(
      client.decrypt({
        name,
        ciphertext,
        additionalAuthenticatedData: aad,
        ciphertextCrc32c: { value: crcOf(ciphertext) ^ 0x80 },
      }),
      status.INVALID_ARGUMENT,
      'The checksum in field ciphertext_crc32c did not match the data in field ciphertext.',
    );
  });

  it('enforces the 64 KiB limits on plaintext and AAD', async () => {
    const name = await newKey();
    const max = 64 * 1024;
    const enc = await encryptWith(name, randomBytes(max), randomBytes(max));
    expect(enc.name).toBe(`${name}/cryptoKeyVersions/1`);
    await expectGrpcError(encryptWith(name, randomBytes(max + 1)), status.INVALID_ARGUMENT);
    await expectGrpcError(encryptWith(name, Buffer.from('x'), randomBytes(max + 1)), status.INVALID_ARGUMENT);
  });

  it('keeps old ciphertexts decrypting after rotation, and encrypts with the new primary', async () => {
    const name = await newKey();
    const before = await encryptWith(name, Buffer.from('old'));
    expect(before.name).toBe(`${name}/cryptoKeyVersions/1`);

    const [v2] = await client.createCryptoKeyVersion({ parent: name, cryptoKeyVersion: {} });
    expect(v2.name).toBe(`${name}/cryptoKeyVersions/2`);
    expect(v2.state).toBe('ENABLED');
    expect(v2.algorithm).toBe('GOOGLE_SYMMETRIC_ENCRYPTION');
    // A new version is not primary until it is promoted.
    expect((await encryptWith(name, Buffer.from('x'))).name).toBe(`${name}/cryptoKeyVersions/1`);

    const [key] = await client.updateCryptoKeyPrimaryVersion({ name, cryptoKeyVersionId: '2' });
    expect(key.primary?.name).toBe(v2.name);
    const after = await encryptWith(name, Buffer.from('new'));
    expect(after.name).toBe(v2.name);

    const [oldDec] = await client.decrypt({ name, ciphertext: before.ciphertext });
    expect(Buffer.from(oldDec.plaintext as Uint8Array).toString()).toBe('old');
    expect(oldDec.usedPrimary).toBe(false);
    const [newDec] = await client.decrypt({ name, ciphertext: after.ciphertext });
    expect(Buffer.from(newDec.plaintext as Uint8Array).toString()).toBe('new');
    expect(newDec.usedPrimary).toBe(true);

    // Encrypt may also name a version explicitly.
    const pinned = await encryptWith(`${name}/cryptoKeyVersions/1`, Buffer.from('pinned'));
    expect(pinned.name).toBe(`${name}/cryptoKeyVersions/1`);

    const [versions, , raw] = await client.listCryptoKeyVersions({ parent: name }, { autoPaginate: false });
    expect(versions.map((v) => v.name)).toEqual([
      `${name}/cryptoKeyVersions/1`,
      `${name}/cryptoKeyVersions/2`,
    ]);
    expect(raw?.totalSize).toBe(2);
  });

  it('cannot decrypt with a version scheduled for destruction, until it is restored and enabled', async () => {
    const name = await newKey();
    const enc = await encryptWith(name, Buffer.from('doomed'));
    await client.createCryptoKeyVersion({ parent: name, cryptoKeyVersion: {} });
    await client.updateCryptoKeyPrimaryVersion({ name, cryptoKeyVersionId: '2' });

    const v1 = `${name}/cryptoKeyVersions/1`;
    const [destroyed] = await client.destroyCryptoKeyVersion({ name: v1 });
    expect(destroyed.state).toBe('DESTROY_SCHEDULED');
    const days = (Number(destroyed.destroyTime?.seconds) * 1000 - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    const notEnabled = `${v1} is not enabled, current state is: DESTROY_SCHEDULED.`;
    await expectGrpcError(
      client.decrypt({ name, ciphertext: enc.ciphertext }),
      status.FAILED_PRECONDITION,
      notEnabled,
    );
    await expectGrpcError(
      client.encrypt({ name: v1, plaintext: Buffer.from('x') }),
      status.FAILED_PRECONDITION,
      notEnabled,
    );
    await expectGrpcError(client.destroyCryptoKeyVersion({ name: v1 }), status.FAILED_PRECONDITION);
    await expectGrpcError(
      client.updateCryptoKeyPrimaryVersion({ name, cryptoKeyVersionId: '1' }),
      status.FAILED_PRECONDITION,
    );

    const [restored] = await client.restoreCryptoKeyVersion({ name: v1 });
    expect(restored.state).toBe('DISABLED');
    expect(restored.destroyTime).toBeFalsy();
    await expectGrpcError(client.decrypt({ name, ciphertext: enc.ciphertext }), status.FAILED_PRECONDITION);

    const [enabled] = await client.updateCryptoKeyVersion({
      cryptoKeyVersion: { name: v1, state: 'ENABLED' },
      updateMask: { paths: ['state'] },
    });
    expect(enabled.state).toBe('ENABLED');
    const [dec] = await client.decrypt({ name, ciphertext: enc.ciphertext });
    expect(Buffer.from(dec.plaintext as Uint8Array).toString()).toBe('doomed');
  });
});

describe('GCP KMS emulator: AsymmetricSign / GetPublicKey', () => {
  it('signs raw data with Ed25519, verifiable against the PEM from GetPublicKey', async () => {
    const key = await newKey('ASYMMETRIC_SIGN', 'EC_SIGN_ED25519');
    const [info] = await client.getCryptoKey({ name: key });
    expect(info.primary).toBeFalsy();
    const version = `${key}/cryptoKeyVersions/1`;

    const [pub] = await client.getPublicKey({ name: version });
    expect(pub.algorithm).toBe('EC_SIGN_ED25519');
    expect(pub.name).toBe(version);
    expect(pub.protectionLevel).toBe('SOFTWARE');
    expect(pub.pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(num(pub.pemCrc32c)).toBe(crcOf(pub.pem ?? ''));

    const data = Buffer.from('attestation payload');
    const [res] = await client.asymmetricSign({ name: version, data, dataCrc32c: { value: crcOf(data) } });
    const signature = Buffer.from(res.signature as Uint8Array);
    expect(res.name).toBe(version);
    expect(res.verifiedDataCrc32c).toBe(true);
    expect(res.verifiedDigestCrc32c).toBe(false);
    expect(num(res.signatureCrc32c)).toBe(crcOf(signature));
    expect(signature).toHaveLength(64);
    expect(verify(null, data, pub.pem ?? '', signature)).toBe(true);
    expect(verify(null, Buffer.from('attestation payloaD'), pub.pem ?? '', signature)).toBe(false);

    await expectGrpcError(
      client.asymmetricSign({
        name: version,
        digest: { sha256: createHash('sha256').update(data).digest() },
      }),
      status.INVALID_ARGUMENT,
    );
    await expectGrpcError(
      client.asymmetricSign({ name: version, data, dataCrc32c: { value: crcOf(data) + 1 } }),
      status.INVALID_ARGUMENT,
      'The checksum in field data_crc32c did not match the data in field data.',
    );
  });

  it('signs a SHA-256 digest with P-256 as DER ECDSA, verifiable against the PEM', async () => {
    const key = await newKey('ASYMMETRIC_SIGN', 'EC_SIGN_P256_SHA256');
    const version = `${key}/cryptoKeyVersions/1`;
    const [pub] = await client.getPublicKey({ name: version });
    expect(pub.algorithm).toBe('EC_SIGN_P256_SHA256');
    const pem = pub.pem ?? '';

    const message = Buffer.from('the message');
    const digest = createHash('sha256').update(message).digest();
    for (let i = 0; i < 5; i++) {
      const [res] = await client.asymmetricSign({
        name: version,
        digest: { sha256: digest },
        digestCrc32c: { value: crcOf(digest) },
      });
      const signature = Buffer.from(res.signature as Uint8Array);
      expect(res.verifiedDigestCrc32c).toBe(true);
      expect(res.verifiedDataCrc32c).toBe(false);
      expect(num(res.signatureCrc32c)).toBe(crcOf(signature));
      expect(signature[0]).toBe(0x30);
      expect(verify('sha256', message, pem, signature)).toBe(true);
      expect(verify('sha256', Buffer.from('another message'), pem, signature)).toBe(false);
    }

    const [fromData] = await client.asymmetricSign({ name: version, data: message });
    expect(verify('sha256', message, pem, Buffer.from(fromData.signature as Uint8Array))).toBe(true);

    await expectGrpcError(
      client.asymmetricSign({
        name: version,
        digest: { sha384: createHash('sha384').update(message).digest() },
      }),
      status.INVALID_ARGUMENT,
    );
    await expectGrpcError(
      client.asymmetricSign({
        name: version,
        digest: { sha256: digest },
        digestCrc32c: { value: crcOf(digest) ^ 1 },
      }),
      status.INVALID_ARGUMENT,
      'The checksum in field digest_crc32c did not match the data in field digest.',
    );
  });

  it('refuses operations that do not match the key purpose', async () => {
    const signKey = await newKey('ASYMMETRIC_SIGN', 'EC_SIGN_ED25519');
    const encKey = await newKey();
    await expectGrpcError(
      client.encrypt({ name: signKey, plaintext: Buffer.from('x') }),
      status.FAILED_PRECONDITION,
    );
    await expectGrpcError(
      client.asymmetricSign({ name: `${encKey}/cryptoKeyVersions/1`, data: Buffer.from('x') }),
      status.FAILED_PRECONDITION,
    );
    await expectGrpcError(
      client.getPublicKey({ name: `${encKey}/cryptoKeyVersions/1` }),
      status.FAILED_PRECONDITION,
    );
    await expectGrpcError(
      client.updateCryptoKeyPrimaryVersion({ name: signKey, cryptoKeyVersionId: '1' }),
      status.FAILED_PRECONDITION,
    );
  });
});
