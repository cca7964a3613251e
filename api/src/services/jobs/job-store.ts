// Jobs are rows: claimed with a lease (FOR UPDATE SKIP LOCKED, so replicas never run one job
// twice at once), progress committed with each batch, and picked up again by any replica when
// a lease runs out (the process running it died). That is what makes them resumable.
import { randomUUID } from 'node:crypto';
import type { JobStatus } from '../../../../contract/src/jobs.js';
import { type Queryable, query } from '../../db/pool.js';

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
}

export const JOBS_CHANNEL = 'oneclaw_jobs';

export async function createJob(
  tx: Queryable,
  j: { orgId: string; vaultId?: string; kind: string; params: Record<string, unknown>; total: number },
): Promise<JobRow> {
  const { rows } = await query<JobRow>(
    tx,
    `INSERT INTO jobs (id, org_id, vault_id, kind, status, params, total) VALUES ($1, $2, $3, $4, 'pending', $5, $6) RETURNING *`,
    [randomUUID(), j.orgId, j.vaultId ?? null, j.kind, JSON.stringify(j.params), j.total],
  );
  await query(tx, 'SELECT pg_notify($1, $2)', [JOBS_CHANNEL, (rows[0] as JobRow).id]);
  return rows[0] as JobRow;
}

export async function getJob(db: Queryable, orgId: string, id: string): Promise<JobRow | undefined> {
  const { rows } = await query<JobRow>(db, 'SELECT * FROM jobs WHERE id = $1 AND org_id = $2', [id, orgId]);
  return rows[0];
}

/** Takes the next runnable job (new, or running with an expired lease) for `leaseMs`. */
export async function claimJob(
  db: Queryable,
  owner: string,
  kinds: string[],
  leaseMs: number,
): Promise<JobRow | undefined> {
  const { rows } = await query<JobRow>(
    db,
    `UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = now() + make_interval(secs => $2::double precision / 1000), updated_at = now()
      WHERE id = (
        SELECT id FROM jobs
         WHERE kind = ANY($3) AND (status = 'pending' OR (status = 'running' AND lease_until < now()))
         ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
      RETURNING *`,
    [owner, leaseMs, kinds],
  );
  return rows[0];
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
