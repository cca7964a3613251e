// AES-256-GCM with a 12-byte random IV and a 16-byte tag, the only cipher oneclaw uses in
// process. The output layout is IV || ciphertext || tag.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { IntegrityError } from './errors.js';

export const KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;

export function aesGcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new RangeError('AES-256-GCM needs a 32-byte key');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** Opens IV || ciphertext || tag; any mismatch of key, AAD or bytes is an IntegrityError. */
export function aesGcmOpen(key: Buffer, sealed: Buffer, aad: Buffer, what: string): Buffer {
  if (key.length !== KEY_BYTES) throw new RangeError('AES-256-GCM needs a 32-byte key');
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new IntegrityError(`${what}: truncated`);
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const out = decipher.update(body);
  try {
    decipher.final();
  } catch {
    out.fill(0);
    throw new IntegrityError(`${what}: authentication failed (tampered, moved, or wrong key)`);
  }
  return out;
}

/** Overwrites key material or plaintext once it is no longer needed. */
export function wipe(...bufs: Array<Buffer | undefined>): void {
  for (const b of bufs) b?.fill(0);
}
