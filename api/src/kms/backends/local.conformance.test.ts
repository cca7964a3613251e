import { randomBytes } from 'node:crypto';
import { kmsConformance, signerConformance } from '../conformance.js';
import { openBackend, openSigner } from '../registry.js';
import { generateLocalSigningKeyPem } from './local-signer.js';

kmsConformance({
  backend: 'local',
  open: () => openBackend('local://dev', { local: { masterKeys: { dev: randomBytes(32) } } }),
  openMisconfigured: () => openBackend('local://dev', { local: { masterKeys: { dev: randomBytes(16) } } }),
});

signerConformance({
  backend: 'local',
  expectedAlg: 'EdDSA',
  open: () => openSigner('local://jwt', { local: { signingKeyPems: { jwt: generateLocalSigningKeyPem() } } }),
});
