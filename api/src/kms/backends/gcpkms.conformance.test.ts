import { sharedPeer } from '../../../../test/support/fixtures.js';
import { createGcpKey } from '../../../../test/support/peers/gcpkms.js';
import { freePort } from '../../../../test/support/ports.js';
import { kmsConformance, signerConformance } from '../conformance.js';
import { openBackend, openSigner } from '../registry.js';
import type { KmsSettings } from '../types.js';

async function emulator(): Promise<{
  info: Awaited<ReturnType<typeof sharedPeer<'gcpkms'>>>;
  settings: KmsSettings;
}> {
  const info = await sharedPeer('gcpkms');
  return { info, settings: { gcpkms: { apiEndpoint: info.host, port: info.port, insecure: true } } };
}

kmsConformance({
  backend: 'gcpkms',
  async open() {
    const { info, settings } = await emulator();
    return openBackend(`gcpkms://${await createGcpKey(info, 'kek')}`, settings);
  },
  async openMisconfigured() {
    const { info, settings } = await emulator();
    return openBackend(
      `gcpkms://projects/${info.projectId}/locations/global/keyRings/none/cryptoKeys/none`,
      settings,
    );
  },
  async openUnreachable() {
    const port = await freePort();
    return openBackend('gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k', {
      gcpkms: { apiEndpoint: '127.0.0.1', port, insecure: true },
      timeoutMs: 2_000,
    });
  },
});

for (const [algorithm, alg] of [
  ['EC_SIGN_ED25519', 'EdDSA'],
  ['EC_SIGN_P256_SHA256', 'ES256'],
] as const) {
  signerConformance({
    backend: 'gcpkms',
    expectedAlg: alg,
    async open() {
      const { info, settings } = await emulator();
      return openSigner(`gcpkms://${await createGcpKey(info, 'jwt', algorithm)}`, settings);
    },
  });
}
