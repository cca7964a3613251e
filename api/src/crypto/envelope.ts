// Envelope encryption of secret values.
//
//   KMS root key ──wraps──▶ vault KEK (32 bytes, per vault per KEK version)
//   vault KEK    ──wraps──▶ DEK (32 bytes, fresh per secret version)       [custody "wrapped"]
//   KMS root key ──wraps──▶ DEK                                            [custody "kms"]
//   DEK          ──encrypts▶ value (AES-256-GCM)
//
// Every layer binds what it protects through associated data, so a blob copied to another
// org, vault, path, version or KEK version fails to open:
//   value AAD   = (org id, vault id, path, version)
//   DEK AAD     = (vault id, KEK version)         [kms custody: KMS context (org, vault, path, version)]
//   KEK context = (org id, vault id, KEK version) passed to the KMS
//
// Blob formats (all self-describing by their first byte):
//   value       0x01 | IV(12) | ciphertext | tag(16)
//   wrapped DEK 0x01 | u32 KEK version | IV(12) | ciphertext(32) | tag(16)     [wrapped custody]
//               0x02 | KMS blob (names backend, key id, key version)          [kms custody]
//   wrapped KEK a KMS blob (see kms/blob.ts)
import { randomBytes } from 'node:crypto';
import type { Custody } from '../../../contract/src/vaults.js';
import type { KekCache } from '../kms/cache.js';
import type { Kms } from '../kms/kms.js';
import { aesGcmOpen, aesGcmSeal, IV_BYTES, KEY_BYTES, TAG_BYTES, wipe } from './aead.js';
import { BlobReader, encodeFields, u32 } from './encoding.js';
import { IntegrityError } from './errors.js';

const VALUE_FORMAT_V1 = 0x01;
export const DEK_FORMAT_KEK = 0x01;
export const DEK_FORMAT_KMS = 0x02;

export type { Custody };

export interface ValueBinding {
  orgId: string;
  vaultId: string;
  path: string;
  version: number;
}

function valueAad(b: ValueBinding): Buffer {
  return encodeFields('oneclaw/value/v1', [b.orgId, b.vaultId, b.path, b.version]);
}

function dekAad(vaultId: string, kekVersion: number): Buffer {
  return encodeFields('oneclaw/dek/v1', [vaultId, kekVersion]);
}

function kekContext(orgId: string, vaultId: string, kekVersion: number): Record<string, string> {
  return { purpose: 'kek', org_id: orgId, vault_id: vaultId, kek_version: String(kekVersion) };
}

function dekContext(b: ValueBinding): Record<string, string> {
  return { purpose: 'dek', org_id: b.orgId, vault_id: b.vaultId, path: b.path, version: String(b.version) };
}

// ── values ────────────────────────────────────────────────────────────────────

export function sealValue(dek: Buffer, plaintext: Buffer, binding: ValueBinding): Buffer {
  return Buffer.concat([Buffer.from([VALUE_FORMAT_V1]), aesGcmSeal(dek, plaintext, valueAad(binding))]);
}

export function openValue(dek: Buffer, blob: Buffer, binding: ValueBinding): Buffer {
  if (blob.length < 1 + IV_BYTES + TAG_BYTES) throw new IntegrityError('value blob: truncated');
  if (blob[0] !== VALUE_FORMAT_V1) throw new IntegrityError('value blob: unknown format');
  return aesGcmOpen(dek, blob.subarray(1), valueAad(binding), 'value blob');
}

// ── DEKs under a vault KEK ────────────────────────────────────────────────────

export function wrapDekWithKek(kek: Buffer, kekVersion: number, dek: Buffer, vaultId: string): Buffer {
  return Buffer.concat([
    Buffer.from([DEK_FORMAT_KEK]),
    u32(kekVersion),
    aesGcmSeal(kek, dek, dekAad(vaultId, kekVersion)),
  ]);
}

export interface ParsedWrappedDek {
  format: typeof DEK_FORMAT_KEK | typeof DEK_FORMAT_KMS;
  /** KEK version for DEK_FORMAT_KEK; 0 for KMS custody. */
  kekVersion: number;
  body: Buffer;
}

export function parseWrappedDek(blob: Buffer): ParsedWrappedDek {
  const r = new BlobReader(blob, (why) => new IntegrityError(`wrapped DEK: ${why}`));
  const format = r.u8();
  if (format === DEK_FORMAT_KEK) {
    const kekVersion = r.u32();
    if (kekVersion === 0) throw new IntegrityError('wrapped DEK: KEK version 0');
    const body = r.rest();
    if (body.length !== IV_BYTES + KEY_BYTES + TAG_BYTES)
      throw new IntegrityError('wrapped DEK: wrong length');
    return { format, kekVersion, body };
  }
  if (format === DEK_FORMAT_KMS) {
    const body = r.rest();
    if (body.length === 0) throw new IntegrityError('wrapped DEK: truncated');
    return { format, kekVersion: 0, body };
  }
  throw new IntegrityError(`wrapped DEK: unknown format 0x${format.toString(16)}`);
}

export function unwrapDekWithKek(kek: Buffer, parsed: ParsedWrappedDek, vaultId: string): Buffer {
  const dek = aesGcmOpen(kek, parsed.body, dekAad(vaultId, parsed.kekVersion), 'wrapped DEK');
  if (dek.length !== KEY_BYTES) throw new IntegrityError('wrapped DEK: wrong key length');
  return dek;
}

// ── the service ───────────────────────────────────────────────────────────────

export interface VaultKeys {
  orgId: string;
  vaultId: string;
  custody: Custody;
  /** The KEK version new secrets are written under. */
  currentKekVersion: number;
  /** The wrapped KEK of a version (a KMS blob), or undefined if that version does not exist. */
  wrappedKek(version: number): Buffer | undefined;
}

export interface SealedValue {
  ciphertext: Buffer;
  wrappedDek: Buffer;
  /** 0 in kms custody. */
  kekVersion: number;
}

export interface Envelope {
  /** New KEK material for a vault version, wrapped by the KMS. The plaintext never leaves. */
  createKek(orgId: string, vaultId: string, kekVersion: number): Promise<Buffer>;
  seal(vault: VaultKeys, path: string, version: number, plaintext: Buffer): Promise<SealedValue>;
  open(
    vault: VaultKeys,
    path: string,
    version: number,
    sealed: { ciphertext: Buffer; wrappedDek: Buffer },
  ): Promise<Buffer>;
  /** Re-wraps a DEK under the vault's current KEK version; the value is not re-encrypted. */
  rewrapDek(vault: VaultKeys, wrappedDek: Buffer): Promise<{ wrappedDek: Buffer; kekVersion: number }>;
  /**
   * Re-wraps a kms-custody DEK under the KMS's current root key (`kms migrate`); returns
   * undefined when it already is.
   */
  rewrapKmsDek(
    vault: VaultKeys,
    path: string,
    version: number,
    wrappedDek: Buffer,
  ): Promise<Buffer | undefined>;
  /** Re-wraps a KEK under another KMS (root-key rotation or `kms migrate`). */
  rewrapKek(
    orgId: string,
    vaultId: string,
    kekVersion: number,
    wrappedKek: Buffer,
    target: Kms,
  ): Promise<Buffer>;
}

export function createEnvelope(deps: { kms: Kms; cache: KekCache }): Envelope {
  const { kms, cache } = deps;

  /** The unwrapped KEK of a version, from the cache when warm: the caller's own copy, to wipe after use. */
  async function kek(vault: VaultKeys, version: number): Promise<Buffer> {
    const wrapped = vault.wrappedKek(version);
    if (!wrapped) throw new IntegrityError(`vault has no KEK version ${version}`);
    const context = kekContext(vault.orgId, vault.vaultId, version);
    const key = await cache.get(wrapped, JSON.stringify(context), async () => {
      const k = await kms.unwrap(wrapped, context);
      if (k.length !== KEY_BYTES) {
        wipe(k);
        throw new IntegrityError('KEK has the wrong length');
      }
      return k;
    });
    return key;
  }

  async function unwrapDek(
    vault: VaultKeys,
    path: string,
    version: number,
    wrappedDek: Buffer,
  ): Promise<Buffer> {
    const parsed = parseWrappedDek(wrappedDek);
    if (parsed.format === DEK_FORMAT_KMS) {
      const dek = await kms.unwrap(
        parsed.body,
        dekContext({ orgId: vault.orgId, vaultId: vault.vaultId, path, version }),
      );
      if (dek.length !== KEY_BYTES) {
        wipe(dek);
        throw new IntegrityError('wrapped DEK: wrong key length');
      }
      return dek;
    }
    const k = await kek(vault, parsed.kekVersion);
    try {
      return unwrapDekWithKek(k, parsed, vault.vaultId);
    } finally {
      wipe(k);
    }
  }

  return {
    async createKek(orgId, vaultId, kekVersion) {
      const material = randomBytes(KEY_BYTES);
      try {
        return await kms.wrap(material, kekContext(orgId, vaultId, kekVersion));
      } finally {
        wipe(material);
      }
    },

    async seal(vault, path, version, plaintext) {
      const binding = { orgId: vault.orgId, vaultId: vault.vaultId, path, version };
      const dek = randomBytes(KEY_BYTES);
      try {
        const ciphertext = sealValue(dek, plaintext, binding);
        if (vault.custody === 'kms') {
          const body = await kms.wrap(dek, dekContext(binding));
          return {
            ciphertext,
            wrappedDek: Buffer.concat([Buffer.from([DEK_FORMAT_KMS]), body]),
            kekVersion: 0,
          };
        }
        const k = await kek(vault, vault.currentKekVersion);
        try {
          return {
            ciphertext,
            wrappedDek: wrapDekWithKek(k, vault.currentKekVersion, dek, vault.vaultId),
            kekVersion: vault.currentKekVersion,
          };
        } finally {
          wipe(k);
        }
      } finally {
        wipe(dek);
      }
    },

    async open(vault, path, version, sealed) {
      const dek = await unwrapDek(vault, path, version, sealed.wrappedDek);
      try {
        return openValue(dek, sealed.ciphertext, {
          orgId: vault.orgId,
          vaultId: vault.vaultId,
          path,
          version,
        });
      } finally {
        wipe(dek);
      }
    },

    async rewrapDek(vault, wrappedDek) {
      const parsed = parseWrappedDek(wrappedDek);
      if (parsed.format !== DEK_FORMAT_KEK) throw new IntegrityError('only KEK-wrapped DEKs are re-wrapped');
      if (parsed.kekVersion === vault.currentKekVersion) return { wrappedDek, kekVersion: parsed.kekVersion };
      const old = await kek(vault, parsed.kekVersion);
      let dek: Buffer;
      try {
        dek = unwrapDekWithKek(old, parsed, vault.vaultId);
      } finally {
        wipe(old);
      }
      try {
        const next = await kek(vault, vault.currentKekVersion);
        try {
          return {
            wrappedDek: wrapDekWithKek(next, vault.currentKekVersion, dek, vault.vaultId),
            kekVersion: vault.currentKekVersion,
          };
        } finally {
          wipe(next);
        }
      } finally {
        wipe(dek);
      }
    },

    async rewrapKmsDek(vault, path, version, wrappedDek) {
      const parsed = parseWrappedDek(wrappedDek);
      if (parsed.format !== DEK_FORMAT_KMS) throw new IntegrityError('not a kms-custody DEK');
      const named = kms.keyOf(parsed.body);
      if (named.backend === kms.current.name && named.keyId === kms.current.keyId) return undefined;
      const context = dekContext({ orgId: vault.orgId, vaultId: vault.vaultId, path, version });
      const dek = await kms.unwrap(parsed.body, context);
      try {
        return Buffer.concat([Buffer.from([DEK_FORMAT_KMS]), await kms.wrap(dek, context)]);
      } finally {
        wipe(dek);
      }
    },

    async rewrapKek(orgId, vaultId, kekVersion, wrappedKek, target) {
      const context = kekContext(orgId, vaultId, kekVersion);
      const material = await kms.unwrap(wrappedKek, context);
      try {
        return await target.wrap(material, context);
      } finally {
        wipe(material);
      }
    },
  };
}
