import { afterAll, beforeAll } from 'vitest';
import type { Peer } from '../../../../test/support/peers/common.js';
import { type SoftHsmInfo, startSoftHsm } from '../../../../test/support/peers/softhsm.js';
import { kmsConformance, signerConformance } from '../conformance.js';
import { openBackend, openSigner } from '../registry.js';
import { createPkcs11Ed25519KeyPair, createPkcs11Key } from './pkcs11/index.js';

// SoftHSM2 is a library in this process: a token of our own, configured before first use.
let hsm: Peer<SoftHsmInfo>;
let n = 0;
beforeAll(async () => {
  hsm = await startSoftHsm('conformance');
  process.env.SOFTHSM2_CONF = hsm.info.conf;
});
afterAll(async () => {
  await hsm?.stop();
});

const target = (label: string) => ({
  module: hsm.info.module,
  token: hsm.info.tokenLabel,
  pin: hsm.info.pin,
  label,
});
const uri = (label: string) => `pkcs11://${hsm.info.tokenLabel}/${label}?module=${hsm.info.module}`;

kmsConformance({
  backend: 'pkcs11',
  async open() {
    // A fresh root key (its own label) for every open, as with the other backends.
    const label = `kek${++n}`;
    await createPkcs11Key(target(label));
    return openBackend(uri(label), { pkcs11: { pin: hsm.info.pin } });
  },
  async openMisconfigured() {
    const label = `kek${++n}`;
    await createPkcs11Key(target(label));
    return openBackend(uri(label), { pkcs11: { pin: '9999' } });
  },
});

signerConformance({
  backend: 'pkcs11',
  expectedAlg: 'EdDSA',
  async open() {
    await createPkcs11Ed25519KeyPair(target('jwt'));
    return openSigner(uri('jwt'), { pkcs11: { pin: hsm.info.pin } });
  },
});
