// Customer-managed keys (CMEK): the client-side encryption layer of SPEC §2. A value is
// encrypted here, with the customer's 32-byte key, before it reaches the API; the server stores
// the blob (under its own envelope encryption too) and only the key's SHA-256 fingerprint.
//
// Wire format, byte-exact, shared with every other client:
//
//   [0x01 format version][12-byte IV][ciphertext][16-byte GCM tag]
//
// AES-256-GCM with no associated data. Built on WebCrypto only (no Buffer), so the same code
// runs in Node ≥ 18 and in browsers.
import type { webcrypto } from 'node:crypto';

export const CMEK_VERSION = 0x01;
export const CMEK_KEY_BYTES = 32;
export const CMEK_IV_BYTES = 12;
export const CMEK_TAG_BYTES = 16;
/** The shortest blob: version byte, IV and tag around an empty ciphertext. */
export const CMEK_MIN_BLOB_BYTES = 1 + CMEK_IV_BYTES + CMEK_TAG_BYTES;

export type CmekErrorCode =
  /** The key is not exactly 32 bytes. */
  | 'cmek_invalid_key'
  /** The arguments are in the wrong order: the helpers take the data first and the key second. */
  | 'cmek_arguments_swapped'
  /** The blob is shorter than version + IV + tag. */
  | 'cmek_blob_too_short'
  /** The first byte is not a format version this SDK reads. */
  | 'cmek_unsupported_version'
  /** Authentication failed: the wrong key, or the blob was altered. */
  | 'cmek_decrypt_failed'
  /** A version names a key fingerprint that none of the given keys has. */
  | 'cmek_no_matching_key'
  /** The vault's active key is not one of the keys given (client-side rotation). */
  | 'cmek_key_mismatch'
  /** A string that is not standard, padded base64. */
  | 'invalid_base64'
  /** Neither globalThis.crypto.subtle nor node:crypto is available. */
  | 'cmek_no_webcrypto';

/** A CMEK helper's failure; the message never holds key material or plaintext. */
export class CmekError extends Error {
  override readonly name = 'CmekError';
  readonly code: CmekErrorCode;
  constructor(code: CmekErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

type Crypto = webcrypto.Crypto;
let cryptoPromise: Promise<Crypto> | undefined;

/** WebCrypto: the global one (browsers, Node ≥ 19), else node:crypto's (Node 18). */
function getCrypto(): Promise<Crypto> {
  cryptoPromise ??= (async () => {
    const global = (globalThis as { crypto?: Crypto }).crypto;
    if (global?.subtle) return global;
    try {
      const mod = await import('node:crypto');
      return mod.webcrypto as Crypto;
    } catch {
      throw new CmekError('cmek_no_webcrypto', 'WebCrypto (crypto.subtle) is not available here');
    }
  })();
  return cryptoPromise;
}

/** A copy backed by its own ArrayBuffer (what WebCrypto's BufferSource wants). */
const own = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes);

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== CMEK_KEY_BYTES) {
    throw new CmekError('cmek_invalid_key', `a CMEK key must be ${CMEK_KEY_BYTES} bytes`);
  }
}

async function importKey(key: Uint8Array): Promise<webcrypto.CryptoKey> {
  checkKey(key);
  const c = await getCrypto();
  return c.subtle.importKey('raw', own(key), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/** A new CMEK key: 32 bytes from the platform's CSPRNG. Keep it out of logs and argv. */
export async function generateCmekKey(): Promise<Uint8Array> {
  const c = await getCrypto();
  return c.getRandomValues(new Uint8Array(CMEK_KEY_BYTES));
}

/** The key's fingerprint as the server stores it: SHA-256 of the 32 raw bytes, lowercase hex. */
export async function cmekFingerprint(key: Uint8Array): Promise<string> {
  checkKey(key);
  const c = await getCrypto();
  return toHex(new Uint8Array(await c.subtle.digest('SHA-256', own(key))));
}

/**
 * Refuses a call whose arguments are in the other order, where the bytes tell: the data comes
 * first and the key second, as in the reference guide. Code written against a key-first
 * signature would otherwise encrypt under its plaintext, or fail with a misleading message.
 */
function refuseSwapped(fn: string, data: unknown, key: unknown, looksLikeData: (k: Uint8Array) => boolean) {
  const keyShaped = (x: unknown) => x instanceof Uint8Array && x.length === CMEK_KEY_BYTES;
  const swapped =
    typeof key === 'string' ||
    (keyShaped(data) && key instanceof Uint8Array && !keyShaped(key)) ||
    (keyShaped(data) &&
      keyShaped(key) &&
      looksLikeData(key as Uint8Array) &&
      !looksLikeData(data as Uint8Array));
  if (swapped) {
    throw new CmekError(
      'cmek_arguments_swapped',
      `${fn} takes the data first and the 32-byte key second; these arguments look swapped`,
    );
  }
}

/** A CMEK blob starts with its format byte; a 32-byte one that does not is no valid blob. */
const blobShaped = (b: Uint8Array) => b[0] === CMEK_VERSION;

/**
 * Encrypts `plaintext` (bytes, or a string taken as UTF-8) into a CMEK blob under `key`. `iv`
 * fixes the IV and exists for test vectors only: reusing an IV with the same key breaks AES-GCM.
 */
export async function cmekEncrypt(
  plaintext: Uint8Array | string,
  key: Uint8Array,
  opts: { iv?: Uint8Array } = {},
): Promise<Uint8Array> {
  refuseSwapped('cmekEncrypt(plaintext, key)', plaintext, key, () => false);
  const k = await importKey(key);
  const c = await getCrypto();
  const iv = opts.iv ? own(opts.iv) : c.getRandomValues(new Uint8Array(CMEK_IV_BYTES));
  if (iv.length !== CMEK_IV_BYTES) {
    throw new CmekError('cmek_invalid_key', `a CMEK IV must be ${CMEK_IV_BYTES} bytes`);
  }
  const data = typeof plaintext === 'string' ? new TextEncoder().encode(plaintext) : own(plaintext);
  // WebCrypto's AES-GCM output is the ciphertext followed by the 16-byte tag.
  const sealed = new Uint8Array(
    await c.subtle.encrypt({ name: 'AES-GCM', iv, tagLength: CMEK_TAG_BYTES * 8 }, k, data),
  );
  const blob = new Uint8Array(1 + CMEK_IV_BYTES + sealed.length);
  blob[0] = CMEK_VERSION;
  blob.set(iv, 1);
  blob.set(sealed, 1 + CMEK_IV_BYTES);
  return blob;
}

/** Decrypts a CMEK blob under `key`; throws a CmekError for a short blob, another version or the wrong key. */
export async function cmekDecrypt(blob: Uint8Array, key: Uint8Array): Promise<Uint8Array> {
  refuseSwapped('cmekDecrypt(blob, key)', blob, key, blobShaped);
  checkKey(key);
  if (!(blob instanceof Uint8Array) || blob.length < CMEK_MIN_BLOB_BYTES) {
    throw new CmekError(
      'cmek_blob_too_short',
      `a CMEK blob has at least ${CMEK_MIN_BLOB_BYTES} bytes (version, IV, tag); this one has ${blob?.length ?? 0}`,
    );
  }
  if (blob[0] !== CMEK_VERSION) {
    throw new CmekError(
      'cmek_unsupported_version',
      `unsupported CMEK format version 0x${(blob[0] ?? 0).toString(16).padStart(2, '0')} (this SDK reads 0x01)`,
    );
  }
  const k = await importKey(key);
  const c = await getCrypto();
  const iv = own(blob.subarray(1, 1 + CMEK_IV_BYTES));
  try {
    return new Uint8Array(
      await c.subtle.decrypt(
        { name: 'AES-GCM', iv, tagLength: CMEK_TAG_BYTES * 8 },
        k,
        own(blob.subarray(1 + CMEK_IV_BYTES)),
      ),
    );
  } catch {
    throw new CmekError(
      'cmek_decrypt_failed',
      'CMEK decryption failed: the key does not match this value, or the value was altered',
    );
  }
}

// --- encodings --------------------------------------------------------------------------------

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();

/** Standard base64 (RFC 4648 §4) with padding. */
export function toBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out += `${ALPHABET.charAt(n >> 18)}${ALPHABET.charAt((n >> 12) & 63)}${ALPHABET.charAt((n >> 6) & 63)}${ALPHABET.charAt(n & 63)}`;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    out += `${ALPHABET.charAt(n >> 18)}${ALPHABET.charAt((n >> 12) & 63)}==`;
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += `${ALPHABET.charAt(n >> 18)}${ALPHABET.charAt((n >> 12) & 63)}${ALPHABET.charAt((n >> 6) & 63)}=`;
  }
  return out;
}

/**
 * Decodes standard, padded base64. Refuses anything else — the URL-safe alphabet, missing or
 * misplaced padding, whitespace, non-zero trailing bits — so one value has one encoding.
 */
export function fromBase64(text: string): Uint8Array {
  const bad = (why: string) => new CmekError('invalid_base64', `not standard padded base64: ${why}`);
  if (typeof text !== 'string') throw bad('not a string');
  if (text.length % 4 !== 0) throw bad('length is not a multiple of 4');
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const v: number[] = [];
    for (let j = 0; j < 4; j++) {
      const ch = text.charCodeAt(i + j);
      if (ch === 61 /* = */ && last && j >= 4 - pad) {
        v.push(0);
        continue;
      }
      const d = ch < 128 ? (DECODE[ch] as number) : -1;
      if (d < 0) throw bad(`unexpected character at ${i + j}`);
      v.push(d);
    }
    const n =
      ((v[0] as number) << 18) | ((v[1] as number) << 12) | ((v[2] as number) << 6) | (v[3] as number);
    if (last && pad === 2 && (n & 0xffff) !== 0) throw bad('non-zero padding bits');
    if (last && pad === 1 && (n & 0xff) !== 0) throw bad('non-zero padding bits');
    out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}
