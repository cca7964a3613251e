// Starting and reading jobs through the API.
import type pg from 'pg';
import type { Job } from '../../../../contract/src/jobs.js';
import { withTransaction } from '../../db/pool.js';
import type { Kms } from '../../kms/kms.js';
import { appendAudit } from '../audit/audit-service.js';
import type { Principal } from '../auth/auth-service.js';
import { notFound } from '../errors.js';
import type { VaultService } from '../vaults/vault-service.js';
import { getVault } from '../vaults/vault-store.js';
import { countUnderOlderKek, createJob, getJob, type JobRow } from './job-store.js';
import { KMS_MIGRATE, kmsMigrateTotal } from './kms-migrate.js';
import { ROTATE_KEK } from './rotate-kek.js';

export interface JobService {
  startKekRotation(p: Principal, vaultId: string, requestId?: string): Promise<Job>;
  /** Re-wraps what is still under a previous KMS key with the current one (one vault or all). */
  startKmsMigration(p: Principal, vaultId: string | undefined, requestId?: string): Promise<Job>;
  get(p: Principal, id: string): Promise<Job>;
}

export const toJob = (j: JobRow): Job => ({
  id: j.id,
  kind: j.kind,
  vault_id: j.vault_id,
  status: j.status,
  processed: j.processed,
  total: j.total,
  error: j.error,
  created_at: j.created_at.toISOString(),
  updated_at: j.updated_at.toISOString(),
});

export function createJobService(deps: {
  pool: pg.Pool;
  vaults: VaultService;
  kms: Kms;
  onCreated: () => void;
}): JobService {
  return {
    async startKekRotation(p, vaultId, requestId) {
      const job = await withTransaction(deps.pool, async (tx) => {
        const version = await deps.vaults.addKekVersion(tx, p, vaultId, requestId);
        return createJob(tx, {
          orgId: p.orgId,
          vaultId,
          kind: ROTATE_KEK,
          params: { kek_version: version },
          total: await countUnderOlderKek(tx, vaultId, version),
        });
      });
      deps.onCreated();
      return toJob(job);
    },
    async startKmsMigration(p, vaultId, requestId) {
      const job = await withTransaction(deps.pool, async (tx) => {
        if (vaultId !== undefined && !(await getVault(tx, p.orgId, vaultId))) throw notFound('vault');
        const created = await createJob(tx, {
          orgId: p.orgId,
          ...(vaultId ? { vaultId } : {}),
          kind: KMS_MIGRATE,
          params: { vault_id: vaultId ?? null },
          total: await kmsMigrateTotal(tx, p.orgId, vaultId ?? null, deps.kms),
        });
        await appendAudit(tx, {
          orgId: p.orgId,
          actor: p.subject,
          action: 'kms.migrate',
          decision: 'allow',
          ...(vaultId ? { vaultId } : {}),
          requestId,
          details: {
            job_id: created.id,
            kms_backend: deps.kms.current.name,
            kms_key_id: deps.kms.current.keyId,
          },
        });
        return created;
      });
      deps.onCreated();
      return toJob(job);
    },
    async get(p, id) {
      const job = await getJob(deps.pool, p.orgId, id);
      if (!job) throw notFound('job');
      return toJob(job);
    },
  };
}
