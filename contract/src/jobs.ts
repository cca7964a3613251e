// Jobs: server-side work that outlives a request (KEK rotation, KMS migration), followed by id.
import Type, { type Static } from 'typebox';
import { DateTime, Nullable, Uuid } from './common.js';

export const JobStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
]);
export type JobStatus = Static<typeof JobStatus>;

export const Job = Type.Object({
  id: Uuid,
  /** `rotate-kek` or `kms-migrate`. */
  kind: Type.String(),
  vault_id: Nullable(Uuid),
  status: JobStatus,
  processed: Type.Integer(),
  total: Type.Integer(),
  error: Nullable(Type.String()),
  created_at: DateTime,
  updated_at: DateTime,
});
export type Job = Static<typeof Job>;

/** One vault, or every vault of the org when `vault_id` is left out. */
export const KmsMigrateInput = Type.Optional(
  Type.Object({ vault_id: Type.Optional(Uuid) }, { additionalProperties: false }),
);

export const JobParams = Type.Object({ job_id: Uuid });
