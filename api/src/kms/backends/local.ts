// local://<name>: a 32-byte master key held by the process (ONECLAW_LOCAL_MASTER_KEY or a key
// file). For development and single-node installs; the key id is the SHA-256 of the key, so
// a blob names which master key wrapped it and a replaced key fails loudly, not silently.
import { createHash } from 'node:crypto';
import { aesGcmOpen, aesGcmSeal, KEY_BYTES } from '../../crypto/aead.js';
import { IntegrityError, KmsConfigError } from '../../crypto/errors.js';
import type { KmsBackend } from '../types.js';

function localKeyId(masterKey: Buffer): string {
  return createHash('sha256').update(masterKey).digest('hex');
}

export function createLocalBackend(masterKey: Buffer): KmsBackend {
  if (masterKey.length !== KEY_BYTES) {
    throw new KmsConfigError(
      `local master key must be ${KEY_BYTES} bytes (base64 of 32 random bytes), got ${masterKey.length}`,
    );
  }
  const key = Buffer.from(masterKey);
  const keyId = localKeyId(key);
  return {
    name: 'local',
    keyId,
    async wrap(plaintext, aad) {
      return { keyVersion: '1', ciphertext: aesGcmSeal(key, plaintext, aad) };
    },
    async unwrap(ciphertext, keyVersion, aad) {
      if (keyVersion !== '1') throw new IntegrityError('local key blob: unknown key version');
      return aesGcmOpen(key, ciphertext, aad, 'local key blob');
    },
    async close() {
      key.fill(0);
    },
  };
}
