// Key URI → backend. Backends load lazily so a deployment that uses one KMS never loads the
// others' SDKs (or the PKCS#11 native addon). Opening is fail-closed: the backend checks its
// key, then a canary wrap/unwrap must round-trip, or the caller gets a clear error.
import { randomBytes } from 'node:crypto';
import { IntegrityError, KmsConfigError } from '../crypto/errors.js';
import { contextAad } from './kms.js';
import type { KmsBackend, KmsSettings, KmsSigner } from './types.js';
import { parseKeyUri } from './uri.js';

export async function openBackend(uri: string, settings: KmsSettings = {}): Promise<KmsBackend> {
  const parsed = parseKeyUri(uri);
  let backend: KmsBackend;
  switch (parsed.backend) {
    case 'local': {
      const key = settings.local?.masterKeys?.[parsed.name];
      if (!key)
        throw new KmsConfigError(`no master key configured for ${uri} (set ONECLAW_LOCAL_MASTER_KEY)`);
      const { createLocalBackend } = await import('./backends/local.js');
      backend = createLocalBackend(key);
      break;
    }
    case 'transit': {
      const { openTransitBackend } = await import('./backends/transit.js');
      backend = await openTransitBackend(parsed, settings);
      break;
    }
    case 'awskms': {
      const { openAwsKmsBackend } = await import('./backends/awskms.js');
      backend = await openAwsKmsBackend(parsed, settings);
      break;
    }
    case 'gcpkms': {
      const { openGcpKmsBackend } = await import('./backends/gcpkms.js');
      backend = await openGcpKmsBackend(parsed, settings);
      break;
    }
    case 'pkcs11': {
      const { openPkcs11Backend } = await import('./backends/pkcs11/index.js');
      backend = await openPkcs11Backend(parsed, settings);
      break;
    }
  }
  try {
    await canary(backend);
  } catch (err) {
    await backend.close().catch(() => {});
    throw err;
  }
  return backend;
}

/** A wrap/unwrap round trip on a throw-away value: proves the key works before any data does. */
export async function canary(backend: KmsBackend): Promise<void> {
  const probe = randomBytes(32);
  const context = { purpose: 'canary' };
  const aad = contextAad(context);
  const w = await backend.wrap(probe, aad, context);
  let back: Buffer;
  try {
    back = await backend.unwrap(w.ciphertext, w.keyVersion, aad, context);
  } catch (err) {
    if (err instanceof IntegrityError) {
      throw new KmsConfigError(`${backend.name} key ${backend.keyId} cannot decrypt what it encrypts`);
    }
    throw err;
  }
  if (!back.equals(probe))
    throw new KmsConfigError(`${backend.name} key ${backend.keyId} failed its round trip`);
}

/**
 * The JWT signing key named by a key URI. Signing happens inside the KMS where the backend can
 * (transit ed25519, GCP EC_SIGN_ED25519, PKCS#11 CKM_EDDSA, AWS ECC_NIST_P256 as ES256);
 * `local://<name>` signs in process with a configured Ed25519 key.
 */
export async function openSigner(uri: string, settings: KmsSettings = {}): Promise<KmsSigner> {
  const parsed = parseKeyUri(uri);
  switch (parsed.backend) {
    case 'local': {
      const pem = settings.local?.signingKeyPems?.[parsed.name];
      if (!pem) throw new KmsConfigError(`no local signing key configured for ${uri}`);
      const { createLocalSigner } = await import('./backends/local-signer.js');
      return createLocalSigner(pem);
    }
    case 'transit': {
      const { openTransitSigner } = await import('./backends/transit.js');
      return openTransitSigner(parsed, settings);
    }
    case 'awskms': {
      const { openAwsKmsSigner } = await import('./backends/awskms.js');
      return openAwsKmsSigner(parsed, settings);
    }
    case 'gcpkms': {
      const { openGcpKmsSigner } = await import('./backends/gcpkms.js');
      return openGcpKmsSigner(parsed, settings);
    }
    case 'pkcs11': {
      const { openPkcs11Signer } = await import('./backends/pkcs11/index.js');
      return openPkcs11Signer(parsed, settings);
    }
  }
}
