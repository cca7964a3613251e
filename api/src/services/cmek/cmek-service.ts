// Customer-managed keys (CMEK): the client encrypts values with its own key before they reach
// the envelope, and the server keeps only the key's fingerprint — per vault (the active key)
// and per version (the key that version is under).
//
// Server-assisted rotation: the client sends the old and the new key in headers once; this
// replica holds them in memory only, for the life of the job (cmek-rotation.ts). If the replica
// dies, the keys die with it: the job shows `interrupted` once its lease runs out, and the
// client resumes it by sending the same keys again — the job then continues with the versions
// still under the old fingerprint, so nothing is done twice or skipped.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { CmekEnableInput, CmekRotation } from '../../../../contract/src/cmek.js';
import type { Envelope } from '../../crypto/envelope.js';
import { type Queryable, UniqueViolationError, withTransaction } from '../../db/pool.js';
import { appendAudit } from '../audit/audit-service.js';
import type { Principal } from '../auth/auth-service.js';
import { notFound, ServiceError } from '../errors.js';
import { createJob, type JobRow, takeLease } from '../jobs/job-store.js';
import type { VaultService } from '../vaults/vault-service.js';
import { getVault, setCmekFingerprint, type VaultRow } from '../vaults/vault-store.js';
import { createRotationRuns } from './cmek-rotation.js';
import { CMEK_ROTATE, countUnderKey, getRotation, listRotations, lockLatestRotation } from './cmek-store.js';
import { CMEK_KEY_BYTES, cmekFingerprint, decodeBase64 } from './format.js';

export interface CmekService {
  enable(p: Principal, vaultId: string, input: CmekEnableInput, requestId?: string): Promise<void>;
  disable(p: Principal, vaultId: string, fingerprint: string, requestId?: string): Promise<void>;
  /** Starts a rotation, or resumes the vault's unfinished one when given the same keys. */
  startRotation(
    p: Principal,
    vaultId: string,
    input: { oldKey: Buffer; newKey: Buffer; newFingerprint: string },
    requestId?: string,
  ): Promise<CmekRotation>;
  getRotation(p: Principal, vaultId: string, jobId: string): Promise<CmekRotation>;
  /** The vault's rotations, newest first (at most 50). */
  listRotations(p: Principal, vaultId: string): Promise<CmekRotation[]>;
  /** Stops this replica's rotations after their current batch (they become resumable). */
  stop(): Promise<void>;
}

/** Decodes a key header: standard base64 of exactly 32 bytes. */
export function parseKeyHeader(name: string, value: string | string[] | undefined): Buffer {
  const key = typeof value === 'string' ? decodeBase64(value.trim()) : undefined;
  if (!key || key.length !== CMEK_KEY_BYTES) {
    key?.fill(0);
    throw new ServiceError(
      400,
      'invalid_cmek_key',
      `header ${name} must be the standard base64 of a ${CMEK_KEY_BYTES}-byte key`,
    );
  }
  return key;
}

const keyMismatch = (message: string) => new ServiceError(400, 'cmek_key_mismatch', message);
/** A well-formed key that is not the one the vault's state calls for. */
const keyConflict = (message: string) => new ServiceError(409, 'cmek_key_mismatch', message);
const rotationRunning = () =>
  new ServiceError(
    409,
    'cmek_rotation_running',
    'a CMEK rotation of this vault is unfinished; wait for it, or resume it with the same keys',
  );
const short = (fp: string) => `${fp.slice(0, 12)}…`;

function toRotation(j: JobRow): CmekRotation {
  const interrupted = (j.status === 'running' || j.status === 'pending') && !j.lease_live;
  return {
    id: j.id,
    vault_id: j.vault_id as string,
    status: interrupted ? 'interrupted' : j.status === 'pending' ? 'running' : j.status,
    processed: j.processed,
    total_secrets: j.total,
    old_fingerprint: String(j.params.old_fingerprint),
    new_fingerprint: String(j.params.new_fingerprint),
    error: j.error,
    created_at: j.created_at.toISOString(),
    updated_at: j.updated_at.toISOString(),
  };
}

export function createCmekService(deps: {
  pool: pg.Pool;
  envelope: Envelope;
  vaults: VaultService;
  logger: Logger;
  /** Names this replica in job leases. */
  owner: string;
  leaseMs?: number;
}): CmekService {
  const { pool } = deps;
  const leaseMs = deps.leaseMs ?? 15_000;
  const runs = createRotationRuns({ ...deps, leaseMs });

  const lockVault = async (tx: Queryable, p: Principal, vaultId: string): Promise<VaultRow> => {
    const v = await getVault(tx, p.orgId, vaultId, { forUpdate: true });
    if (!v) throw notFound('vault');
    return v;
  };

  const refuseWhileRotating = async (tx: Queryable, vaultId: string) => {
    const last = await lockLatestRotation(tx, vaultId);
    if (last && (last.status === 'running' || last.status === 'pending')) throw rotationRunning();
  };

  const audit = (
    db: Queryable,
    p: Principal,
    vaultId: string,
    action: string,
    requestId: string | undefined,
    details: Record<string, string | number | boolean>,
    deny?: string,
  ) =>
    appendAudit(db, {
      orgId: p.orgId,
      actor: p.subject,
      action,
      decision: deny ? 'deny' : 'allow',
      ...(deny ? { reason: deny } : {}),
      vaultId,
      requestId,
      details,
    });

  return {
    async enable(p, vaultId, input, requestId) {
      await withTransaction(pool, async (tx) => {
        const v = await lockVault(tx, p, vaultId);
        await refuseWhileRotating(tx, vaultId);
        if (v.cmek_fingerprint === input.fingerprint) return;
        if (v.cmek_fingerprint !== null) {
          if (input.previous_fingerprint === undefined) {
            throw new ServiceError(
              409,
              'cmek_already_enabled',
              `another customer-managed key (${short(v.cmek_fingerprint)}) is active; rotate with cmek-rotate, or switch by naming it in previous_fingerprint`,
            );
          }
          if (input.previous_fingerprint !== v.cmek_fingerprint) {
            throw new ServiceError(
              409,
              'cmek_fingerprint_mismatch',
              'previous_fingerprint is not the active customer-managed key',
            );
          }
        }
        await setCmekFingerprint(tx, vaultId, input.fingerprint);
        await audit(tx, p, vaultId, v.cmek_fingerprint ? 'cmek.switch' : 'cmek.enable', requestId, {
          fingerprint: input.fingerprint,
          ...(v.cmek_fingerprint ? { previous_fingerprint: v.cmek_fingerprint } : {}),
        });
      });
    },

    async disable(p, vaultId, fingerprint, requestId) {
      await withTransaction(pool, async (tx) => {
        const v = await lockVault(tx, p, vaultId);
        await refuseWhileRotating(tx, vaultId);
        if (v.cmek_fingerprint === null)
          throw new ServiceError(409, 'cmek_not_enabled', 'this vault has no customer-managed key');
        if (v.cmek_fingerprint !== fingerprint)
          throw new ServiceError(
            409,
            'cmek_fingerprint_mismatch',
            'fingerprint is not the active customer-managed key',
          );
        await setCmekFingerprint(tx, vaultId, null);
        await audit(tx, p, vaultId, 'cmek.disable', requestId, { fingerprint });
      });
    },

    async startRotation(p, vaultId, input, requestId) {
      const oldFp = cmekFingerprint(input.oldKey);
      const newFp = cmekFingerprint(input.newKey);
      const refuse = async (err: ServiceError): Promise<never> => {
        // A wrong key is worth an audit record (someone holds a key that is not the vault's).
        await withTransaction(pool, (tx) =>
          audit(
            tx,
            p,
            vaultId,
            'cmek.rotate',
            requestId,
            { new_fingerprint: input.newFingerprint },
            err.code,
          ),
        ).catch(() => {});
        throw err;
      };
      if (newFp !== input.newFingerprint)
        return refuse(keyMismatch('x-cmek-new-key does not match new_fingerprint'));
      if (oldFp === newFp)
        throw new ServiceError(400, 'invalid_request', 'the new key must differ from the old');
      let job: JobRow;
      try {
        job = await withTransaction(pool, async (tx) => {
          const v = await lockVault(tx, p, vaultId);
          const last = await lockLatestRotation(tx, vaultId);
          const open = last && (last.status === 'running' || last.status === 'pending');
          // An unfinished job, or a failed one whose new key is still the vault's, is resumed.
          const resumable =
            last &&
            (open || (last.status === 'failed' && last.params.new_fingerprint === v.cmek_fingerprint));
          if (last && resumable) {
            if (last.params.new_fingerprint !== newFp) throw rotationRunning();
            if (last.params.old_fingerprint !== oldFp)
              throw keyConflict('x-cmek-old-key is not the old key of the rotation being resumed');
            if (open && last.lease_live) return last; // running now, here or in another replica
            const taken = await takeLease(tx, last.id, deps.owner, leaseMs);
            await audit(tx, p, vaultId, 'cmek.rotate.resume', requestId, {
              job_id: last.id,
              old_fingerprint: oldFp,
              new_fingerprint: newFp,
            });
            return taken;
          }
          if (v.cmek_fingerprint === null)
            throw new ServiceError(409, 'cmek_not_enabled', 'this vault has no customer-managed key');
          if (v.cmek_fingerprint !== oldFp)
            throw keyConflict("x-cmek-old-key is not the vault's active customer-managed key");
          const created = await createJob(tx, {
            orgId: p.orgId,
            vaultId,
            kind: CMEK_ROTATE,
            params: { old_fingerprint: oldFp, new_fingerprint: newFp },
            total: await countUnderKey(tx, vaultId, oldFp),
          });
          // From here on new writes are under the new key; the job moves the old versions.
          await setCmekFingerprint(tx, vaultId, newFp);
          const taken = await takeLease(tx, created.id, deps.owner, leaseMs);
          await audit(tx, p, vaultId, 'cmek.rotate.start', requestId, {
            job_id: created.id,
            old_fingerprint: oldFp,
            new_fingerprint: newFp,
            total: created.total,
          });
          return taken;
        });
      } catch (err) {
        if (err instanceof UniqueViolationError) throw rotationRunning();
        if (err instanceof ServiceError && err.code === 'cmek_key_mismatch') return refuse(err);
        throw err;
      }
      if (job.lease_owner === deps.owner) runs.launch(job, { old: input.oldKey, next: input.newKey });
      return toRotation(job);
    },

    async getRotation(p, vaultId, jobId) {
      const job = await getRotation(pool, p.orgId, vaultId, jobId);
      if (!job) throw notFound('CMEK rotation');
      return toRotation(job);
    },

    async listRotations(p, vaultId) {
      if (!(await getVault(pool, p.orgId, vaultId))) throw notFound('vault');
      return (await listRotations(pool, p.orgId, vaultId, 50)).map(toRotation);
    },

    stop: () => runs.stop(),
  };
}
