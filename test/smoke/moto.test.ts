import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  InvalidCiphertextException,
  KMSClient,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedPeer } from '../support/fixtures.js';

describe('AWS KMS peer (moto server)', () => {
  let kms: KMSClient;
  beforeAll(async () => {
    const info = await sharedPeer('moto');
    kms = new KMSClient({
      endpoint: info.endpoint,
      region: info.region,
      credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    });
  });
  afterAll(() => kms?.destroy());

  it('creates a key, encrypts and decrypts with an encryption context', async () => {
    const created = await kms.send(
      new CreateKeyCommand({ Description: 'oneclaw smoke', KeyUsage: 'ENCRYPT_DECRYPT' }),
    );
    const keyId = created.KeyMetadata?.KeyId;
    expect(keyId).toBeTruthy();
    const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(described.KeyMetadata?.Arn).toMatch(/^arn:aws:kms:us-east-1:\d{12}:key\//);

    const plaintext = Buffer.from('thirty-two bytes of kek material');
    const context = { vault: 'v1', kek_version: '1' };
    const enc = await kms.send(
      new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: context }),
    );
    expect(Buffer.from(enc.CiphertextBlob ?? []).includes(plaintext)).toBe(false);

    const dec = await kms.send(
      new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }),
    );
    expect(Buffer.from(dec.Plaintext ?? [])).toEqual(plaintext);
    expect(dec.KeyId).toBe(described.KeyMetadata?.Arn);

    await expect(
      kms.send(
        new DecryptCommand({
          CiphertextBlob: enc.CiphertextBlob,
          EncryptionContext: { ...context, vault: 'v2' },
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidCiphertextException);
  });
});
