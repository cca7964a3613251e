import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedPeer } from '../support/fixtures.js';
import { gcpKmsTestClient } from '../support/gcp-kms-emulator/client.js';
import { createGcpKey } from '../support/peers/gcpkms.js';

describe('GCP Cloud KMS peer (emulator process, official client)', () => {
  let client: KeyManagementServiceClient;
  let key: string;

  beforeAll(async () => {
    const info = await sharedPeer('gcpkms');
    client = gcpKmsTestClient(info.host, info.port);
    key = await createGcpKey(info, 'smoke');
  });
  afterAll(async () => {
    await client?.close();
  });

  it('encrypts and decrypts with additional authenticated data over gRPC', async () => {
    const plaintext = Buffer.from('thirty-two bytes of kek material');
    const aad = Buffer.from('vault=v1');
    const [enc] = await client.encrypt({ name: key, plaintext, additionalAuthenticatedData: aad });
    expect(enc.name).toBe(`${key}/cryptoKeyVersions/1`);
    const ciphertext = Buffer.from(enc.ciphertext ?? []);
    expect(ciphertext.includes(plaintext)).toBe(false);

    const [dec] = await client.decrypt({ name: key, ciphertext, additionalAuthenticatedData: aad });
    expect(Buffer.from(dec.plaintext ?? [])).toEqual(plaintext);

    await expect(
      client.decrypt({ name: key, ciphertext, additionalAuthenticatedData: Buffer.from('vault=v2') }),
    ).rejects.toMatchObject({ code: 3 });
  });
});
