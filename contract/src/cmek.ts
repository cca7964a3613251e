// Customer-managed keys of a vault (docs/cmek.md): named by fingerprint everywhere; the keys
// themselves travel only in the rotation request's headers.
import Type, { type Static } from 'typebox';
import { DateTime, Fingerprint, Nullable, Uuid } from './common.js';

export const CmekRotationStatus = Type.Union(
  [Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('interrupted')],
  {
    description:
      'interrupted: the replica holding the keys stopped; POST cmek-rotate again with the same keys to resume',
  },
);
export type CmekRotationStatus = Static<typeof CmekRotationStatus>;

/**
 * A server-assisted CMEK rotation job. `interrupted`: the server holding the keys stopped;
 * starting the rotation again with the same keys resumes this job (same id).
 */
export const CmekRotation = Type.Object({
  id: Uuid,
  vault_id: Uuid,
  status: CmekRotationStatus,
  processed: Type.Integer({ description: 'versions re-encrypted so far' }),
  total_secrets: Type.Integer({ description: 'versions under the old key when the rotation started' }),
  old_fingerprint: Fingerprint,
  new_fingerprint: Fingerprint,
  error: Nullable(Type.String()),
  created_at: DateTime,
  updated_at: DateTime,
});
export type CmekRotation = Static<typeof CmekRotation>;

export const CmekRotationList = Type.Object({ rotations: Type.Array(CmekRotation) });
export type CmekRotationList = Static<typeof CmekRotationList>;

export const CmekEnableInput = Type.Object(
  { fingerprint: Fingerprint, previous_fingerprint: Type.Optional(Fingerprint) },
  { additionalProperties: false },
);
export type CmekEnableInput = Static<typeof CmekEnableInput>;

export const CmekDisableInput = Type.Object({ fingerprint: Fingerprint }, { additionalProperties: false });
export type CmekDisableInput = Static<typeof CmekDisableInput>;

export const CmekRotateInput = Type.Object({ new_fingerprint: Fingerprint }, { additionalProperties: false });
export type CmekRotateInput = Static<typeof CmekRotateInput>;

/** Standard base64 of 32 bytes. */
const KEY_B64 = '^[A-Za-z0-9+/]{43}=$';

/**
 * The rotation keys as validated: optional, because the handler checks them itself (code
 * invalid_cmek_key, and the keys are zeroed after use).
 */
export const CmekRotateHeaders = Type.Object({
  'x-cmek-old-key': Type.Optional(Type.String({ description: 'base64 of the 32-byte old key' })),
  'x-cmek-new-key': Type.Optional(Type.String({ description: 'base64 of the 32-byte new key' })),
});
/** The rotation keys as documented: both required. */
export const CmekRotateDocHeaders = Type.Object({
  'x-cmek-old-key': Type.String({ pattern: KEY_B64, description: 'base64 of the 32-byte old key' }),
  'x-cmek-new-key': Type.String({ pattern: KEY_B64, description: 'base64 of the 32-byte new key' }),
});

export const CmekRotationParams = Type.Object({ vault_id: Uuid, job_id: Uuid });
