import { sharedPeer, uniqueName } from '../../../../test/support/fixtures.js';
import { freePort } from '../../../../test/support/ports.js';
import { kmsConformance, signerConformance } from '../conformance.js';
import { openBackend, openSigner } from '../registry.js';

async function createTransitKey(type: string): Promise<{ uri: string; address: string; token: string }> {
  const bao = await sharedPeer('openbao');
  const key = uniqueName('kek');
  const res = await fetch(`${bao.address}/v1/${bao.transitMount}/keys/${key}`, {
    method: 'POST',
    headers: { 'x-vault-token': bao.token, 'content-type': 'application/json' },
    body: JSON.stringify({ type }),
  });
  if (!res.ok) throw new Error(`creating transit key: HTTP ${res.status}`);
  return { uri: `transit://${bao.transitMount}/${key}`, address: bao.address, token: bao.token };
}

kmsConformance({
  backend: 'transit',
  async open() {
    const k = await createTransitKey('aes256-gcm96');
    return openBackend(k.uri, { transit: { address: k.address, token: k.token } });
  },
  async openMisconfigured() {
    const k = await createTransitKey('aes256-gcm96');
    return openBackend(k.uri, { transit: { address: k.address, token: 'not-a-valid-token' } });
  },
  async openUnreachable() {
    const port = await freePort();
    return openBackend('transit://transit/k', {
      transit: { address: `http://127.0.0.1:${port}`, token: 't' },
      timeoutMs: 2_000,
    });
  },
});

signerConformance({
  backend: 'transit',
  expectedAlg: 'EdDSA',
  async open() {
    const k = await createTransitKey('ed25519');
    return openSigner(k.uri, { transit: { address: k.address, token: k.token } });
  },
});
