// Vaults: a namespace of secrets with its own KEK versions under a KMS root key, and the
// Kubernetes object it was made for.
import Type, { type Static } from 'typebox';
import { DateTime, Fingerprint, Nullable, Patterned, Text, Uuid } from './common.js';

/** 1-63 lowercase letters, digits or dashes, starting and ending with a letter or digit. */
export const VAULT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const VaultName = Patterned(
  VAULT_NAME,
  'name must be 1-63 lowercase letters, digits or dashes, starting and ending with a letter or digit',
  { minLength: 1, maxLength: 63 },
);

/** wrapped: DEKs under the vault's KEK; kms: each DEK wrapped by the KMS itself. */
export const Custody = Type.Union([Type.Literal('wrapped'), Type.Literal('kms')]);
export type Custody = Static<typeof Custody>;

/** The Kubernetes object a vault was created for; recorded once, never changed. */
export const OwnerUid = Patterned(
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  "owner uid must be a Kubernetes uid: a lowercase UUID, as in the object's metadata.uid",
);

/** The Kubernetes object a vault was created for (a OneclawVault); recorded once, never changed. */
export const VaultOwner = Type.Object(
  {
    kind: Patterned(
      /^[A-Z][A-Za-z0-9]*$/,
      'owner kind must be a Kubernetes kind: a capital letter, then letters and digits',
      { maxLength: 63 },
    ),
    api_version: Patterned(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$/,
      'owner api_version must be a Kubernetes apiVersion: v1, or <group>/<version> such as oneclaw.dev/v1alpha1',
      { maxLength: 270 },
    ),
    namespace: Patterned(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
      'owner namespace must be a Kubernetes namespace name: lowercase letters, digits or dashes, starting and ending with a letter or digit',
      { maxLength: 63 },
    ),
    name: Patterned(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
      'owner name must be a Kubernetes object name: lowercase letters, digits, dashes and dots, each dot-separated part starting and ending with a letter or digit',
      { maxLength: 253 },
    ),
    /** metadata.uid, lowercase. */
    uid: OwnerUid,
  },
  { additionalProperties: false },
);
export type VaultOwner = Static<typeof VaultOwner>;

export const Vault = Type.Object({
  id: Uuid,
  name: Type.String(),
  description: Type.String(),
  kms_key: Type.String(),
  kms_backend: Type.String(),
  kms_key_id: Type.String(),
  custody: Custody,
  kek_version: Type.Integer(),
  cmek_enabled: Type.Boolean(),
  /** SHA-256 (lowercase hex) of the active CMEK key; null when CMEK is off. */
  cmek_fingerprint: Nullable(Fingerprint),
  /** null for a vault made through the API or the CLI. */
  owner: Nullable(VaultOwner),
  created_at: DateTime,
  updated_at: DateTime,
});
export type Vault = Static<typeof Vault>;

export const VaultList = Type.Object({ vaults: Type.Array(Vault) });
export type VaultList = Static<typeof VaultList>;

export const VaultCreateInput = Type.Object(
  {
    /** 1–63 characters. */
    name: VaultName,
    description: Type.Optional(Text({ maxLength: 1024 })),
    /** A key URI the server is configured with (default: the server's root key). */
    kms_key: Type.Optional(Type.String({ maxLength: 1024 })),
    custody: Type.Optional(Custody),
    /** Admins only; immutable once the vault exists. */
    owner: Type.Optional(VaultOwner),
  },
  { additionalProperties: false },
);
export type VaultCreateInput = Static<typeof VaultCreateInput>;

/** At least one field. */
export const VaultUpdateInput = Type.Object(
  {
    name: Type.Optional(VaultName),
    description: Type.Optional(Text({ maxLength: 1024 })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type VaultUpdateInput = Static<typeof VaultUpdateInput>;

export const VaultParams = Type.Object({ vault_id: Uuid });
export const VaultListQuery = Type.Object(
  { owner_uid: Type.Optional(OwnerUid) },
  { additionalProperties: false },
);
export const VaultDeleteQuery = Type.Object(
  { purge: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
