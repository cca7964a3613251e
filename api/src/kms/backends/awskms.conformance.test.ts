import { randomUUID } from 'node:crypto';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { sharedPeer } from '../../../../test/support/fixtures.js';
import { freePort } from '../../../../test/support/ports.js';
import { kmsConformance, signerConformance } from '../conformance.js';
import { openBackend, openSigner } from '../registry.js';
import type { KmsSettings } from '../types.js';

async function moto(): Promise<{ settings: KmsSettings; client: KMSClient; region: string }> {
  const info = await sharedPeer('moto');
  const credentials = { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey };
  return {
    settings: { awskms: { endpoint: info.endpoint, credentials } },
    client: new KMSClient({ endpoint: info.endpoint, region: info.region, credentials }),
    region: info.region,
  };
}

kmsConformance({
  backend: 'awskms',
  async open() {
    const { settings, client, region } = await moto();
    const key = await client.send(new CreateKeyCommand({ KeyUsage: 'ENCRYPT_DECRYPT' }));
    client.destroy();
    return openBackend(`awskms://${key.KeyMetadata?.KeyId}?region=${region}`, settings);
  },
  async openMisconfigured() {
    const { settings, client, region } = await moto();
    client.destroy();
    return openBackend(`awskms://${randomUUID()}?region=${region}`, settings);
  },
  async openUnreachable() {
    const port = await freePort();
    return openBackend(`awskms://${randomUUID()}?region=us-east-1`, {
      awskms: {
        endpoint: `http://127.0.0.1:${port}`,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      },
      timeoutMs: 2_000,
    });
  },
});

signerConformance({
  backend: 'awskms',
  expectedAlg: 'ES256',
  async open() {
    const { settings, client, region } = await moto();
    const key = await client.send(
      new CreateKeyCommand({ KeyUsage: 'SIGN_VERIFY', KeySpec: 'ECC_NIST_P256' }),
    );
    client.destroy();
    return openSigner(`awskms://${key.KeyMetadata?.KeyId}?region=${region}`, settings);
  },
});
