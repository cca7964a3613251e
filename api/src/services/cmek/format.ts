// The CMEK wire format (SPEC §2), byte-exact: [0x01][12-byte IV][ciphertext][16-byte GCM tag],
// AES-256-GCM under the customer's 32-byte key, no associated data. The server only handles
// the key during a rotation job; otherwise it sees blobs and fingerprints.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ServiceError } from '../errors.js';

export const CMEK_VERSION = 0x01;
export const CMEK_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const CMEK_MIN_BLOB = 1 + IV_BYTES + TAG_BYTES;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (padding required); undefined when `s` is not that. */
export function decodeBase64(s: string): Buffer | undefined {
  return BASE64.test(s) ? Buffer.from(s, 'base64') : undefined;
}

/** SHA-256 of the key, lowercase hex: the only form in which the server keeps a CMEK key. */
export function cmekFingerprint(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * The stored value of a CMEK vault must be the base64 of a well-formed blob. The same value is
 * fine in a vault without CMEK, so a refusal is a conflict with the vault's state (409).
 */
export function checkCmekValue(value: string): void {
  const blob = decodeBase64(value);
  if (!blob || blob.length < CMEK_MIN_BLOB || blob[0] !== CMEK_VERSION) {
    throw new ServiceError(
      409,
      'invalid_cmek_value',
      'this vault uses a customer-managed key: value must be the standard base64 of a CMEK blob (0x01, 12-byte IV, ciphertext, 16-byte tag), made by the SDK or CLI',
    );
  }
}

export class CmekDecryptError extends Error {
  override name = 'CmekDecryptError';
}

/** Data first, key second, as the SDK's helpers. */
export function cmekDecrypt(blob: Buffer, key: Buffer): Buffer {
  if (blob.length < CMEK_MIN_BLOB || blob[0] !== CMEK_VERSION) throw new CmekDecryptError('not a CMEK blob');
  const d = createDecipheriv('aes-256-gcm', key, blob.subarray(1, 1 + IV_BYTES));
  d.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  try {
    return Buffer.concat([d.update(blob.subarray(1 + IV_BYTES, blob.length - TAG_BYTES)), d.final()]);
  } catch {
    throw new CmekDecryptError('does not decrypt under the key (wrong key or tampered)');
  }
}

export function cmekEncrypt(plaintext: Buffer, key: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([Buffer.from([CMEK_VERSION]), iv, body, c.getAuthTag()]);
}
