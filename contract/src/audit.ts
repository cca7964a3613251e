// The audit log of an org, for its admins: records paged by their position in the hash chain,
// and a verification of the whole chain. Records never hold a value.
import Type, { type Static } from 'typebox';
import { DateTime, Nullable, Uuid } from './common.js';
import { Cursor } from './cursor.js';

export const Decision = Type.Union([Type.Literal('allow'), Type.Literal('deny')]);
export type Decision = Static<typeof Decision>;

export const AuditEvent = Type.Object({
  seq: Type.String({ description: 'position in the org chain; the cursor to continue after it' }),
  at: DateTime,
  actor: Type.String({ description: 'who: user:<id>, agent:<id>, system:serviceaccount:<ns>:<name>' }),
  action: Type.String(),
  decision: Decision,
  vault_id: Nullable(Uuid),
  path: Nullable(Type.String()),
  version: Nullable(Type.Integer()),
  reason: Nullable(Type.String()),
  request_id: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  prev_hash: Type.String({ description: 'hex SHA-256 of the previous record' }),
  hash: Type.String({ description: 'hex SHA-256 over prev_hash and this record' }),
});
export type AuditEvent = Static<typeof AuditEvent>;

export const AuditQuery = Type.Object(
  {
    vault_id: Type.Optional(Uuid),
    after: Type.Optional(Cursor),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'default 100' })),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;

export const AuditPage = Type.Object({
  events: Type.Array(AuditEvent),
  next_cursor: Type.String({ description: 'pass as `after` for the next page' }),
});
export type AuditPage = Static<typeof AuditPage>;

export const AuditVerifyResult = Type.Object({
  ok: Type.Boolean(),
  checked: Type.Integer({ description: 'records verified before the first break, or all' }),
  broken_at: Type.Optional(Type.String({ description: 'seq of the first record that fails' })),
  reason: Type.Optional(Type.String()),
});
export type AuditVerifyResult = Static<typeof AuditVerifyResult>;
