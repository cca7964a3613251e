// Jobs are rows: claimed with a lease (FOR UPDATE SKIP LOCKED, so replicas never run one job
// twice at once), progress committed with each batch, and picked up again by any replica when
// a lease runs out (the process running it died). That is what makes them resumable. The rows
// the re-wrap jobs walk (KEK rotation, `kms migrate`) are selected and counted here too.
import { randomUUID } from 'node:crypto';
import type { JobStatus } from '../../../../contract/src/jobs.js';
import { type Queryable, query, queryRow, queryRows } from '../../db/pool.js';

export interface JobRow {
  id: string;
  org_id: string;
  vault_id: string | null;
  kind: string;
  status: JobStatus;
  params: Record<string, unknown>;
  processed: number;
  total: number;
  error: string | null;
  lease_owner: string | null;
  lease_until: Date | null;
  created_at: Date;
  updated_at: Date;
  /** The lease has not run out: a runner holds the job now. */
  lease_live: boolean;
}

export const JOB_COLUMNS = '*, (lease_until IS NOT NULL AND lease_until > now()) AS lease_live';

export const JOBS_CHANNEL = 'oneclaw_jobs';

export async function createJob(
  tx: Queryable,
  j: { orgId: string; vaultId?: string; kind: string; params: Record<string, unknown>; total: number },
): Promise<JobRow> {
  const { rows } = await query<JobRow>(
    tx,
    `INSERT INTO jobs (id, org_id, vault_id, kind, status, params, total) VALUES ($1, $2, $3, $4, 'pending', $5, $6) RETURNING ${JOB_COLUMNS}`,
    [randomUUID(), j.orgId, j.vaultId ?? null, j.kind, JSON.stringify(j.params), j.total],
  );
  await query(tx, 'SELECT pg_notify($1, $2)', [JOBS_CHANNEL, (rows[0] as JobRow).id]);
  return rows[0] as JobRow;
}

export async function getJob(db: Queryable, orgId: string, id: string): Promise<JobRow | undefined> {
  return queryRow<JobRow>(db, `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND org_id = $2`, [id, orgId]);
}

/** Takes the next runnable job (new, or running with an expired lease) for `leaseMs`. */
export async function claimJob(
  db: Queryable,
  owner: string,
  kinds: string[],
  leaseMs: number,
): Promise<JobRow | undefined> {
  return queryRow<JobRow>(
    db,
    `UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = now() + make_interval(secs => $2::double precision / 1000), updated_at = now()
      WHERE id = (
        SELECT id FROM jobs
         WHERE kind = ANY($3) AND (status = 'pending' OR (status = 'running' AND lease_until < now()))
         ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
      RETURNING ${JOB_COLUMNS}`,
    [owner, leaseMs, kinds],
  );
}

/** Records a batch's progress and extends the lease; false if another runner took the job over. */
export async function recordProgress(
  tx: Queryable,
  id: string,
  owner: string,
  processed: number,
  leaseMs: number,
): Promise<boolean> {
  const { rowCount } = await query(
    tx,
    `UPDATE jobs SET processed = processed + $3, lease_until = now() + make_interval(secs => $4::double precision / 1000), updated_at = now()
      WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
    [id, owner, processed, leaseMs],
  );
  return rowCount === 1;
}

export async function finishJob(
  db: Queryable,
  id: string,
  owner: string,
  status: 'succeeded' | 'failed',
  error?: string,
): Promise<boolean> {
  const { rowCount } = await query(
    db,
    `UPDATE jobs SET status = $3, error = $4, lease_owner = NULL, lease_until = NULL, updated_at = now()
      WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
    [id, owner, status, error ?? null],
  );
  return rowCount === 1;
}

/** Hands the job to `owner` from now on, whatever state it was left in (resuming it). */
export async function takeLease(tx: Queryable, id: string, owner: string, leaseMs: number): Promise<JobRow> {
  const { rows } = await query<JobRow>(
    tx,
    `UPDATE jobs SET status = 'running', error = NULL, lease_owner = $2,
            lease_until = now() + make_interval(secs => $3::double precision / 1000), updated_at = now()
      WHERE id = $1 RETURNING ${JOB_COLUMNS}`,
    [id, owner, leaseMs],
  );
  return rows[0] as JobRow;
}

/** Commits a job's parameters (a cursor) with the batch that moved it. */
export async function saveParams(tx: Queryable, id: string, params: Record<string, unknown>): Promise<void> {
  await query(tx, 'UPDATE jobs SET params = $2 WHERE id = $1', [id, JSON.stringify(params)]);
}

// KEK rotation: the DEKs of a vault still wrapped by a KEK version older than `target`.

const UNDER_OLDER_KEK = 'vault_id = $1 AND kek_version > 0 AND kek_version < $2 AND destroyed_at IS NULL';

export async function countUnderOlderKek(db: Queryable, vaultId: string, target: number): Promise<number> {
  const { rows } = await query<{ n: number }>(
    db,
    `SELECT count(*)::int AS n FROM secret_versions WHERE ${UNDER_OLDER_KEK}`,
    [vaultId, target],
  );
  return rows[0]?.n ?? 0;
}

export interface WrappedDekRow {
  secret_id: string;
  version: number;
  wrapped_dek: Buffer;
}

/** Skips rows a writer holds: the writer is not kept waiting, and a later batch takes them. */
export async function lockUnderOlderKek(
  tx: Queryable,
  vaultId: string,
  target: number,
  limit: number,
): Promise<WrappedDekRow[]> {
  return queryRows<WrappedDekRow>(
    tx,
    `SELECT secret_id, version, wrapped_dek FROM secret_versions WHERE ${UNDER_OLDER_KEK}
      ORDER BY secret_id, version LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [vaultId, target, limit],
  );
}

// `kms migrate`: KEK versions wrapped by another KMS key than the current one, and the DEKs of
// vaults in kms custody (the KMS wraps those directly), in one org or one vault of it.

export interface KmsKeyRef {
  backend: string;
  keyId: string;
}

/** What a migration will look at: KEKs under another key plus every kms-custody DEK in scope. */
export async function countKmsMigration(
  db: Queryable,
  orgId: string,
  vaultId: string | null,
  current: KmsKeyRef,
): Promise<number> {
  const { rows } = await query<{ n: number }>(
    db,
    `SELECT (SELECT count(*) FROM vault_keks k JOIN vaults v ON v.id = k.vault_id
              WHERE v.org_id = $1 AND ($2::uuid IS NULL OR v.id = $2) AND k.wrapped_kek IS NOT NULL
                AND (k.kms_backend <> $3 OR k.kms_key_id <> $4))
          + (SELECT count(*) FROM secret_versions s JOIN vaults v ON v.id = s.vault_id
              WHERE v.org_id = $1 AND ($2::uuid IS NULL OR v.id = $2) AND v.custody = 'kms'
                AND s.destroyed_at IS NULL) AS n`,
    [orgId, vaultId, current.backend, current.keyId],
  );
  return Number(rows[0]?.n ?? 0);
}

export interface ForeignKekRow {
  vault_id: string;
  version: number;
  wrapped_kek: Buffer;
}

export async function lockKeksUnderOtherKeys(
  tx: Queryable,
  orgId: string,
  vaultId: string | null,
  current: KmsKeyRef,
  limit: number,
): Promise<ForeignKekRow[]> {
  return queryRows<ForeignKekRow>(
    tx,
    `SELECT k.vault_id, k.version, k.wrapped_kek FROM vault_keks k JOIN vaults v ON v.id = k.vault_id
      WHERE v.org_id = $1 AND ($2::uuid IS NULL OR v.id = $2) AND k.wrapped_kek IS NOT NULL
        AND (k.kms_backend <> $3 OR k.kms_key_id <> $4)
      ORDER BY k.vault_id, k.version LIMIT $5 FOR UPDATE OF k SKIP LOCKED`,
    [orgId, vaultId, current.backend, current.keyId, limit],
  );
}

/** A position in (secret_id, version) order. */
export interface VersionCursor {
  secret_id: string;
  version: number;
}

export const START_CURSOR: VersionCursor = { secret_id: '00000000-0000-0000-0000-000000000000', version: 0 };

export interface KmsDekRow extends WrappedDekRow {
  vault_id: string;
  path: string;
  kek_version: number;
}

/**
 * The next kms-custody DEKs after `after`. Every one is re-wrapped whatever key it is under, so
 * a cursor, not a predicate, says what is done: rows are waited for, not skipped.
 */
export async function lockKmsDeksAfter(
  tx: Queryable,
  orgId: string,
  vaultId: string | null,
  after: VersionCursor,
  limit: number,
): Promise<KmsDekRow[]> {
  return queryRows<KmsDekRow>(
    tx,
    `SELECT s.secret_id, s.version, s.vault_id, p.path, s.wrapped_dek, s.kek_version
       FROM secret_versions s JOIN vaults v ON v.id = s.vault_id JOIN secrets p ON p.id = s.secret_id
      WHERE v.org_id = $1 AND ($2::uuid IS NULL OR v.id = $2) AND v.custody = 'kms'
        AND s.destroyed_at IS NULL AND (s.secret_id, s.version) > ($3::uuid, $4::int)
      ORDER BY s.secret_id, s.version LIMIT $5 FOR UPDATE OF s`,
    [orgId, vaultId, after.secret_id, after.version, limit],
  );
}
