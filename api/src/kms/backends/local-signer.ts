// The local Ed25519 JWT signing key: a PKCS#8 PEM from configuration (or a key file). Used
// with the local KMS backend, and wherever the configured KMS cannot sign.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { KmsConfigError } from '../../crypto/errors.js';
import { ed25519Jwk, type KmsSigner } from '../types.js';

export function generateLocalSigningKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function createLocalSigner(privateKeyPem: string): KmsSigner {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    throw new KmsConfigError('local signing key is not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KmsConfigError('local signing key must be Ed25519');
  const pub = createPublicKey(key).export({ format: 'jwk' });
  const kid = `local:${createHash('sha256')
    .update(pub.x as string)
    .digest('base64url')
    .slice(0, 22)}`;
  const jwk = ed25519Jwk(pub.x as string, kid);
  return {
    alg: 'EdDSA',
    kid,
    async sign(data) {
      return sign(null, data, key);
    },
    async publicJwk() {
      return jwk;
    },
  };
}
