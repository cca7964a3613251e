// Server-assisted CMEK rotation as a re-wrap job: each batch decrypts up to 100 versions still
// under the old customer key and seals them again under the new one, in one transaction with
// its progress. The keys live in this replica's memory only, for the life of the run, and are
// never written to the database, a log or an error; so the job runs only here, and a failure
// that may pass is retried here rather than left to another replica, which would not have the
// keys. If the replica dies, the keys die with it and the client resumes by sending them again.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Envelope, VaultKeys } from '../../crypto/envelope.js';
import { recordEvents } from '../events/events-store.js';
import { auditJobDone, batchHandler, fullOrLeft, type RewrapJob, runJob } from '../jobs/engine.js';
import type { JobRow } from '../jobs/job-store.js';
import { rewriteVersions, type VersionRewrite } from '../secrets/secret-store.js';
import type { VaultService } from '../vaults/vault-service.js';
import { getVault } from '../vaults/vault-store.js';
import { type CmekVersionRow, countUnderKey, lockUnderKey } from './cmek-store.js';
import { CmekDecryptError, cmekDecrypt, cmekEncrypt, decodeBase64 } from './format.js';

export interface RotationKeys {
  old: Buffer;
  next: Buffer;
}

interface Batch {
  vaultId: string;
  keys: VaultKeys;
  oldFp: string;
  newFp: string;
}

function cmekRotation(
  deps: { envelope: Envelope; vaults: VaultService },
  cmek: RotationKeys,
): RewrapJob<CmekVersionRow, VersionRewrite, Batch> {
  const { envelope } = deps;
  return {
    async prepare(tx, job) {
      const vault = await getVault(tx, job.org_id, job.vault_id as string);
      if (!vault) throw new CmekDecryptError('the vault was deleted during the rotation');
      return {
        vaultId: vault.id,
        keys: await deps.vaults.keys(tx, vault),
        oldFp: String(job.params.old_fingerprint),
        newFp: String(job.params.new_fingerprint),
      };
    },
    select: (tx, _job, b, limit) => lockUnderKey(tx, b.vaultId, b.oldFp, limit),
    async rewrap(_tx, b, r) {
      const stored = await envelope.open(b.keys, r.path, r.version, {
        ciphertext: r.ciphertext,
        wrappedDek: r.wrapped_dek,
      });
      let plaintext: Buffer | undefined;
      let next: Buffer | undefined;
      try {
        const blob = decodeBase64(stored.toString('utf8'));
        if (!blob) throw new CmekDecryptError('is not a CMEK blob');
        plaintext = cmekDecrypt(blob, cmek.old);
        next = Buffer.from(cmekEncrypt(plaintext, cmek.next).toString('base64'), 'utf8');
        const sealed = await envelope.seal(b.keys, r.path, r.version, next);
        return { secretId: r.secret_id, version: r.version, ...sealed, cmekFingerprint: b.newFp };
      } catch (err) {
        if (err instanceof CmekDecryptError)
          throw new CmekDecryptError(
            `version ${r.version} of ${r.path} ${err.message}; destroy or rewrite that version, then resume`,
          );
        throw err;
      } finally {
        stored.fill(0);
        plaintext?.fill(0);
        next?.fill(0);
      }
    },
    async write(tx, _job, b, done, rows) {
      await rewriteVersions(tx, done);
      await recordEvents(
        tx,
        rows.map((r) => ({
          vaultId: b.vaultId,
          kind: 'secret.reencrypted',
          path: r.path,
          version: r.version,
        })),
      );
    },
    more: (tx, _job, b, selected) => fullOrLeft(selected, () => countUnderKey(tx, b.vaultId, b.oldFp)),
    async finish(tx, job, b) {
      await auditJobDone(tx, job, 'cmek.rotated', b.vaultId, {
        old_fingerprint: b.oldFp,
        new_fingerprint: b.newFp,
      });
    },
  };
}

export interface RotationRuns {
  /** Runs a rotation this replica holds the lease of, with private copies of the keys, once. */
  launch(job: JobRow, keys: RotationKeys): void;
  /** Stops the runs after their current batch (they become resumable). */
  stop(): Promise<void>;
}

export function createRotationRuns(deps: {
  pool: pg.Pool;
  envelope: Envelope;
  vaults: VaultService;
  logger: Logger;
  owner: string;
  leaseMs: number;
}): RotationRuns {
  const running = new Map<string, Promise<void>>();
  let stopping = false;
  const run = {
    pool: deps.pool,
    owner: deps.owner,
    leaseMs: deps.leaseMs,
    logger: deps.logger,
    stopping: () => stopping,
    onTransient: 'retry' as const,
    // A job's error is shown to whoever polls it: only the rotation's own refusals are
    // worded for that.
    failure: (err: unknown) => (err instanceof CmekDecryptError ? err.message : 'internal error'),
  };
  return {
    launch(job, keys) {
      if (stopping || running.has(job.id)) return;
      const own = { old: Buffer.from(keys.old), next: Buffer.from(keys.next) };
      const handler = batchHandler(deps.pool, cmekRotation(deps, own));
      const done = runJob(job, handler, run).finally(() => {
        own.old.fill(0);
        own.next.fill(0);
        running.delete(job.id);
      });
      running.set(job.id, done);
    },
    async stop() {
      stopping = true;
      await Promise.allSettled([...running.values()]);
    },
  };
}
