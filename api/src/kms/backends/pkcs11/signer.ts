// JWT signing with the Ed25519 key pair labelled `<key label>-sign` (CKM_EDDSA on the token).
// The signer runs on a TokenSession, shared with a backend or owned by the signer alone, and
// looks its key version up again after the session was reopened (object handles are then stale).
import pkcs11js from 'pkcs11js';
import { KmsConfigError } from '../../../crypto/errors.js';
import { ed25519Jwk, type KmsSigner } from '../../types.js';
import type { KeyUri } from '../../uri.js';
import { kmsError } from './errors.js';
import { findObjects, signingKey } from './objects.js';
import type { TokenSession } from './session.js';

export type Pkcs11Uri = Extract<KeyUri, { backend: 'pkcs11' }>;

// PKCS#11 3.0 value that pkcs11js 2.1.7 does not export.
const CKM_EDDSA = 0x1057;

export const SIGN_SUFFIX = '-sign';

/** A signer on `session`; `owned`: closing the signer closes the session. */
export async function createSigner(
  ts: TokenSession,
  parsed: Pkcs11Uri,
  owned: boolean,
): Promise<KmsSigner | undefined> {
  const label = `${parsed.label}${SIGN_SUFFIX}`;
  const found = await ts.run(
    (p11, s) => signingKey(p11, s, label),
    kmsError(`reading signing key "${label}"`),
  );
  if (!found) return undefined;
  const { version, x } = found;
  let handle = found.handle;
  let generation = ts.generation;
  const kid = `pkcs11:${parsed.token}/${label}/${version}`;
  const jwk = ed25519Jwk(x.toString('base64url'), kid);
  return {
    alg: 'EdDSA',
    kid,
    async sign(data) {
      return ts.run((p11, s) => {
        if (generation !== ts.generation) {
          // The session was reopened: look the same key version up again.
          const [again] = findObjects(p11, s, [
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
            { type: pkcs11js.CKA_LABEL, value: label },
            { type: pkcs11js.CKA_ID, value: Buffer.from(version, 'hex') },
          ]);
          if (!again) throw new KmsConfigError(`PKCS#11 signing key "${label}" version ${version} is gone`);
          handle = again;
          generation = ts.generation;
        }
        p11.C_SignInit(s, { mechanism: CKM_EDDSA }, handle);
        return Buffer.from(p11.C_Sign(s, data, Buffer.alloc(64)));
      }, kmsError('sign'));
    },
    async publicJwk() {
      return jwk;
    },
    ...(owned ? { close: () => ts.close() } : {}),
  };
}
