// API keys: `ocu_` (users) or `ocv_` (agents), then a 16-character lookup id, then the secret.
// Only a salted scrypt hash of the whole key is stored; the lookup id finds the row, and the
// comparison is constant-time. The key itself is shown once, when it is created.
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (
  pw: string,
  salt: Buffer,
  len: number,
  opts: object,
) => Promise<Buffer>;

export type KeyKind = 'user' | 'agent';
const PREFIX: Record<KeyKind, string> = { user: 'ocu_', agent: 'ocv_' };
const LOOKUP_CHARS = 16;
// Keys carry 256 bits of entropy, so a moderate cost suffices; it still makes a stolen hash
// table useless for guessing and keeps token exchange fast.
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export function generateApiKey(kind: KeyKind): string {
  const lookup = randomBytes(12).toString('base64url'); // 16 chars
  return `${PREFIX[kind]}${lookup}${randomBytes(32).toString('base64url')}`;
}

/** Splits a presented key; undefined when it is not shaped like one of ours. */
export function parseApiKey(key: string): { kind: KeyKind; lookup: string } | undefined {
  const kind = key.startsWith('ocu_') ? 'user' : key.startsWith('ocv_') ? 'agent' : undefined;
  if (
    !kind ||
    key.length < 4 + LOOKUP_CHARS + 16 ||
    key.length > 256 ||
    !/^oc[uv]_[A-Za-z0-9_-]+$/.test(key)
  ) {
    return undefined;
  }
  return { kind, lookup: key.slice(4, 4 + LOOKUP_CHARS) };
}

export async function hashApiKey(key: string): Promise<Buffer> {
  const salt = randomBytes(16);
  const hash = await scrypt(key, salt, 32, SCRYPT);
  return Buffer.concat([salt, hash]);
}

export async function verifyApiKey(key: string, stored: Buffer): Promise<boolean> {
  if (stored.length !== 48) return false;
  const hash = await scrypt(key, stored.subarray(0, 16), 32, SCRYPT);
  return timingSafeEqual(hash, stored.subarray(16));
}
