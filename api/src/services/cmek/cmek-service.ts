// Customer-managed keys (CMEK): the client encrypts values with its own key before they reach
// the envelope, and the server keeps only the key's fingerprint — per vault (the active key)
// and per version (the key that version is under).
//
// Server-assisted rotation: the client sends the old and the new key in headers once; this
// replica holds them in memory only, for the life of the job, and re-encrypts every version
// under the old key in batches of 100, each batch one transaction (progress included). Keys
// are never written to the database, a log or an error. If the replica dies, the keys die
// with it: the job shows `interrupted` once its lease runs out, and the client resumes it by
// sending the same keys again — the job then continues with the versions still under the old
// fingerprint, so nothing is done twice or skipped.
import type pg from 'pg';
import type { CmekEnableInput, CmekRotation } from '../../../../contract/src/cmek.js';
import type { Logger } from 'pino';
import type { Envelope } from '../../crypto/envelope.js';
import { KmsUnavailableError } from '../../crypto/errors.js';
import {
  DatabaseUnavailableError,
  type Queryable,
  SerializationError,
  UniqueViolationError,
  withTransaction,
} from '../../db/pool.js';
import { appendAudit } from '../audit/audit-service.js';
import type { Principal } from '../auth/auth-service.js';
import { notFound, ServiceError } from '../errors.js';
import { recordEvents } from '../events/events-store.js';
import { createJob, finishJob, type JobRow, recordProgress } from '../jobs/job-store.js';
import { rewriteVersions, type VersionRewrite } from '../secrets/secret-store.js';
import type { VaultService } from '../vaults/vault-service.js';
import { getVault, type VaultRow } from '../vaults/vault-store.js';
import {
  CMEK_KEY_BYTES,
  CmekDecryptError,
  cmekDecrypt,
  cmekEncrypt,
  cmekFingerprint,
  decodeBase64,
} from './format.js';

export const CMEK_ROTATE = 'cmek-rotate';
export const CMEK_BATCH = 100;

export interface CmekService {
  enable(
    p: Principal,
    vaultId: string,
    input: CmekEnableInput,
    requestId?: string,
  ): Promise<void>;
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

interface RotationRow extends JobRow {
  lease_live: boolean;
}

function toRotation(j: RotationRow): CmekRotation {
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

const ROTATION_COLUMNS = `*, (lease_until IS NOT NULL AND lease_until > now()) AS lease_live`;

async function latestRotation(tx: Queryable, vaultId: string): Promise<RotationRow | undefined> {
  const { rows } = await tx.query<RotationRow>(
    `SELECT ${ROTATION_COLUMNS} FROM jobs WHERE vault_id = $1 AND kind = $2
      ORDER BY created_at DESC LIMIT 1 FOR UPDATE`,
    [vaultId, CMEK_ROTATE],
  );
  return rows[0];
}

async function countUnder(db: Queryable, vaultId: string, fingerprint: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM secret_versions
      WHERE vault_id = $1 AND cmek_fingerprint = $2 AND destroyed_at IS NULL`,
    [vaultId, fingerprint],
  );
  return rows[0]?.n ?? 0;
}

class LeaseLost extends Error {}

export function createCmekService(deps: {
  pool: pg.Pool;
  envelope: Envelope;
  vaults: VaultService;
  logger: Logger;
  /** Names this replica in job leases. */
  owner: string;
  leaseMs?: number;
}): CmekService {
  const { pool, envelope } = deps;
  const leaseMs = deps.leaseMs ?? 15_000;
  const running = new Map<string, Promise<void>>();
  let stopping = false;

  const lockVault = async (tx: Queryable, p: Principal, vaultId: string): Promise<VaultRow> => {
    const v = await getVault(tx, p.orgId, vaultId, { forUpdate: true });
    if (!v) throw notFound('vault');
    return v;
  };

  const refuseWhileRotating = async (tx: Queryable, vaultId: string) => {
    const last = await latestRotation(tx, vaultId);
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

  /** One batch: re-encrypts up to 100 versions still under the old key, progress included. */
  async function batch(
    job: JobRow,
    keys: { old: Buffer; next: Buffer },
    oldFp: string,
    newFp: string,
  ): Promise<{ more: boolean; processed: number }> {
    return withTransaction(pool, async (tx) => {
      const vault = await getVault(tx, job.org_id, job.vault_id as string);
      if (!vault) throw new CmekDecryptError('the vault was deleted during the rotation');
      const { rows } = await tx.query<{
        secret_id: string;
        version: number;
        ciphertext: Buffer;
        wrapped_dek: Buffer;
        path: string;
      }>(
        `SELECT v.secret_id, v.version, v.ciphertext, v.wrapped_dek, s.path
           FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
          WHERE v.vault_id = $1 AND v.cmek_fingerprint = $2 AND v.destroyed_at IS NULL
          ORDER BY v.secret_id, v.version LIMIT $3 FOR UPDATE OF v SKIP LOCKED`,
        [vault.id, oldFp, CMEK_BATCH],
      );
      const vk = await deps.vaults.keys(tx, vault);
      const rewrites: VersionRewrite[] = [];
      for (const r of rows) {
        const stored = await envelope.open(vk, r.path, r.version, {
          ciphertext: r.ciphertext,
          wrappedDek: r.wrapped_dek,
        });
        let plaintext: Buffer | undefined;
        let sealed: Awaited<ReturnType<Envelope['seal']>>;
        try {
          const blob = decodeBase64(stored.toString('utf8'));
          if (!blob) throw new CmekDecryptError('is not a CMEK blob');
          plaintext = cmekDecrypt(blob, keys.old);
          const next = Buffer.from(cmekEncrypt(plaintext, keys.next).toString('base64'), 'utf8');
          sealed = await envelope.seal(vk, r.path, r.version, next);
          next.fill(0);
        } catch (err) {
          if (err instanceof CmekDecryptError)
            throw new CmekDecryptError(
              `version ${r.version} of ${r.path} ${err.message}; destroy or rewrite that version, then resume`,
            );
          throw err;
        } finally {
          stored.fill(0);
          plaintext?.fill(0);
        }
        rewrites.push({
          secretId: r.secret_id,
          version: r.version,
          ciphertext: sealed.ciphertext,
          wrappedDek: sealed.wrappedDek,
          kekVersion: sealed.kekVersion,
          cmekFingerprint: newFp,
        });
      }
      await rewriteVersions(tx, rewrites);
      await recordEvents(
        tx,
        rows.map((r) => ({
          vaultId: vault.id,
          kind: 'secret.reencrypted',
          path: r.path,
          version: r.version,
        })),
      );
      if (!(await recordProgress(tx, job.id, deps.owner, rows.length, leaseMs))) throw new LeaseLost();
      // SKIP LOCKED may pass over rows another transaction holds; only an exact count says done.
      const more = rows.length === CMEK_BATCH || (await countUnder(tx, vault.id, oldFp)) > 0;
      if (!more) {
        await appendAudit(tx, {
          orgId: job.org_id,
          actor: 'system',
          action: 'cmek.rotated',
          decision: 'allow',
          vaultId: vault.id,
          details: { job_id: job.id, old_fingerprint: oldFp, new_fingerprint: newFp },
        });
      }
      return { more, processed: rows.length };
    });
  }

  async function run(job: JobRow, keys: { old: Buffer; next: Buffer }): Promise<void> {
    const oldFp = String(job.params.old_fingerprint);
    const newFp = String(job.params.new_fingerprint);
    const log = deps.logger.child({ job_id: job.id, kind: CMEK_ROTATE, vault_id: job.vault_id });
    let pause = 250;
    try {
      while (!stopping) {
        try {
          const r = await batch(job, keys, oldFp, newFp);
          if (!r.more) {
            await finishJob(pool, job.id, deps.owner, 'succeeded');
            log.info('CMEK rotation finished');
            return;
          }
          // What is left is locked by writers in flight: give them a moment.
          if (r.processed === 0) await new Promise((res) => setTimeout(res, 200));
          pause = 250;
        } catch (err) {
          if (err instanceof LeaseLost) return log.warn('CMEK rotation taken over by another replica');
          if (
            err instanceof KmsUnavailableError ||
            err instanceof DatabaseUnavailableError ||
            err instanceof SerializationError
          ) {
            // Keeps the keys and tries again; the lease keeps the job ours if the database
            // answers again before it runs out.
            log.warn({ err: (err as Error).message }, 'CMEK rotation paused: dependency unavailable');
            await new Promise((r) => setTimeout(r, pause));
            pause = Math.min(pause * 2, 5_000);
            continue;
          }
          const message = err instanceof CmekDecryptError ? err.message : 'internal error';
          log.error({ err: (err as Error).message }, 'CMEK rotation failed');
          await finishJob(pool, job.id, deps.owner, 'failed', message).catch(() => {});
          return;
        }
      }
    } finally {
      keys.old.fill(0);
      keys.next.fill(0);
    }
  }

  /** Runs the job in this replica with private copies of the keys, once. */
  function launch(job: JobRow, oldKey: Buffer, newKey: Buffer): void {
    if (running.has(job.id)) return;
    const keys = { old: Buffer.from(oldKey), next: Buffer.from(newKey) };
    const done = run(job, keys).finally(() => running.delete(job.id));
    running.set(job.id, done);
  }

  /** This replica runs the job from now on (new, interrupted, or failed and resumed). */
  const takeLease = async (tx: Queryable, id: string): Promise<RotationRow> => {
    const { rows } = await tx.query<RotationRow>(
      `UPDATE jobs SET status = 'running', error = NULL, lease_owner = $2,
              lease_until = now() + make_interval(secs => $3::double precision / 1000), updated_at = now()
        WHERE id = $1 RETURNING ${ROTATION_COLUMNS}`,
      [id, deps.owner, leaseMs],
    );
    return rows[0] as RotationRow;
  };

  const readRotation = async (db: Queryable, orgId: string, vaultId: string, id: string) => {
    const { rows } = await db.query<RotationRow>(
      `SELECT ${ROTATION_COLUMNS} FROM jobs WHERE id = $1 AND org_id = $2 AND vault_id = $3 AND kind = $4`,
      [id, orgId, vaultId, CMEK_ROTATE],
    );
    return rows[0];
  };

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
        await tx.query('UPDATE vaults SET cmek_fingerprint = $2, updated_at = now() WHERE id = $1', [
          vaultId,
          input.fingerprint,
        ]);
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
        await tx.query('UPDATE vaults SET cmek_fingerprint = NULL, updated_at = now() WHERE id = $1', [
          vaultId,
        ]);
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
      let job: RotationRow;
      try {
        job = await withTransaction(pool, async (tx) => {
          const v = await lockVault(tx, p, vaultId);
          const last = await latestRotation(tx, vaultId);
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
            const taken = await takeLease(tx, last.id);
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
            total: await countUnder(tx, vaultId, oldFp),
          });
          // From here on new writes are under the new key; the job moves the old versions.
          await tx.query('UPDATE vaults SET cmek_fingerprint = $2, updated_at = now() WHERE id = $1', [
            vaultId,
            newFp,
          ]);
          const taken = await takeLease(tx, created.id);
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
      if (job.lease_owner === deps.owner && !stopping) launch(job, input.oldKey, input.newKey);
      return toRotation(job);
    },

    async getRotation(p, vaultId, jobId) {
      const job = await readRotation(pool, p.orgId, vaultId, jobId);
      if (!job) throw notFound('CMEK rotation');
      return toRotation(job);
    },

    async listRotations(p, vaultId) {
      if (!(await getVault(pool, p.orgId, vaultId))) throw notFound('vault');
      const { rows } = await pool.query<RotationRow>(
        `SELECT ${ROTATION_COLUMNS} FROM jobs WHERE org_id = $1 AND vault_id = $2 AND kind = $3
          ORDER BY created_at DESC LIMIT 50`,
        [p.orgId, vaultId, CMEK_ROTATE],
      );
      return rows.map(toRotation);
    },

    async stop() {
      stopping = true;
      await Promise.allSettled([...running.values()]);
    },
  };
}
