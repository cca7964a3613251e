// Versioned secrets: writes, reads with the value, and listings that carry metadata only.
import Type, { type Static } from 'typebox';
import { DateTime, Fingerprint, INT32_MAX, Metadata, Nullable, Patterned, Uuid } from './common.js';

/** The secret types the API accepts. */
export const SecretType = Type.Union([
  Type.Literal('password'),
  Type.Literal('api_key'),
  Type.Literal('private_key'),
  Type.Literal('certificate'),
  Type.Literal('file'),
  Type.Literal('note'),
  Type.Literal('ssh_key'),
  Type.Literal('env_bundle'),
]);
export type SecretType = Static<typeof SecretType>;
export const SECRET_TYPES: readonly SecretType[] = SecretType.anyOf.map((t) => t.const);

/** Segments of A-Z a-z 0-9 _ - separated by single slashes. */
export const SECRET_PATH = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/;
export const MAX_PATH = 512;

/** A secret's path arrives as the router's wildcard `*`; the document names it `{path}`. */
export const SecretPathParams = Type.Object({
  vault_id: Uuid,
  '*': Type.String({ description: 'secret path, e.g. app/db/password' }),
});
export const SecretPathDocParams = Type.Object({
  vault_id: Uuid,
  path: Type.String({
    pattern: SECRET_PATH.source,
    maxLength: MAX_PATH,
    description: 'secret path: segments of A-Z a-z 0-9 _ - separated by single slashes, e.g. app/db/password',
  }),
});

export const SecretPutInput = Type.Object(
  {
    type: SecretType,
    /** UTF-8 text (binary: base64, type `file`). */
    value: Type.String(),
    metadata: Type.Optional(Metadata),
    expires_at: Type.Optional(Nullable(DateTime)),
    /** ≥ 1, or null for no limit. */
    max_access_count: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: INT32_MAX }))),
    /** Check-and-set: the expected current version (0: the path must not exist yet). */
    cas: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: INT32_MAX,
        description: 'expected current version (0: must not exist)',
      }),
    ),
    /**
     * CMEK vaults: the fingerprint of the key `value` was encrypted with; the write is refused
     * (409 `cmek_fingerprint_mismatch`) if it is no longer the vault's active key.
     */
    cmek_fingerprint: Type.Optional(
      Type.String({
        ...Fingerprint,
        description: 'the customer-managed key the value was encrypted with (CMEK vaults)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SecretPutInput = Static<typeof SecretPutInput>;

export const SecretWriteResult = Type.Object({
  path: Type.String(),
  version: Type.Integer(),
  created_at: DateTime,
});
export type SecretWriteResult = Static<typeof SecretWriteResult>;

/** A secret with its value (`GET …/secrets/*path`). */
export const SecretValue = Type.Object({
  path: Type.String(),
  type: Type.String(),
  value: Type.String(),
  version: Type.Integer(),
  metadata: Metadata,
  expires_at: Nullable(DateTime),
  /** The value is a CMEK blob (standard base64); decrypt it with `cmekDecrypt`. */
  cmek_encrypted: Type.Boolean(),
  /** The fingerprint of the CMEK key the value was encrypted with, or null. */
  cmek_fingerprint: Nullable(Fingerprint),
  created_at: DateTime,
});
export type SecretValue = Static<typeof SecretValue>;

/** A listing entry: metadata only, never a value. */
export const SecretMeta = Type.Object({
  path: Type.String(),
  type: Type.String(),
  version: Type.Integer(),
  metadata: Metadata,
  expires_at: Nullable(DateTime),
  /** Of the current version. */
  cmek_encrypted: Type.Boolean(),
  cmek_fingerprint: Nullable(Fingerprint),
  created_at: DateTime,
  updated_at: DateTime,
});
export type SecretMeta = Static<typeof SecretMeta>;

export const SecretList = Type.Object({
  secrets: Type.Array(SecretMeta),
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: Nullable(Type.String()),
});
export type SecretList = Static<typeof SecretList>;

export const VersionMeta = Type.Object({
  version: Type.Integer(),
  type: Type.String(),
  created_at: DateTime,
  created_by: Type.String(),
  expires_at: Nullable(DateTime),
  max_access_count: Nullable(Type.Integer()),
  access_count: Type.Integer(),
  destroyed: Type.Boolean(),
  cmek_encrypted: Type.Boolean(),
  cmek_fingerprint: Nullable(Fingerprint),
});
export type VersionMeta = Static<typeof VersionMeta>;

export const VersionList = Type.Object({ versions: Type.Array(VersionMeta) });
export type VersionList = Static<typeof VersionList>;

export const SecretReadQuery = Type.Object(
  { version: Type.Optional(Type.Integer({ minimum: 1, maximum: INT32_MAX })) },
  { additionalProperties: false },
);
export const SecretListQuery = Type.Object(
  {
    prefix: Type.Optional(
      Patterned(/^[A-Za-z0-9_/-]*$/, 'prefix may use only A-Z a-z 0-9 _ - /', {
        maxLength: MAX_PATH,
      }),
    ),
    cursor: Type.Optional(
      Patterned(SECRET_PATH, 'cursor is not valid', {
        maxLength: MAX_PATH,
        description: 'next_cursor of the previous page',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  { additionalProperties: false },
);
export const SecretDeleteQuery = Type.Object(
  { destroy: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
