// KEK rotation: the vault already writes under its new KEK version; this job re-wraps the DEKs
// of older versions to it, 100 per transaction, without touching value ciphertexts. Reads and
// writes go on meanwhile (old KEK versions stay until nothing uses them). Resuming after a
// crash simply continues: a batch only selects DEKs still under an older KEK.
import type pg from 'pg';
import type { Envelope } from '../../crypto/envelope.js';
import { withTransaction } from '../../db/pool.js';
import { appendAudit } from '../audit/audit-service.js';
import { recordEvent } from '../events/events-store.js';
import { rewriteVersions, type VersionRewrite } from '../secrets/secret-store.js';
import type { VaultService } from '../vaults/vault-service.js';
import { getVault } from '../vaults/vault-store.js';
import { recordProgress } from './job-store.js';
import type { JobHandler } from './runner.js';

export const ROTATE_KEK = 'rotate-kek';
export const BATCH = 100;

export function rotateKekHandler(deps: {
  pool: pg.Pool;
  envelope: Envelope;
  vaults: VaultService;
}): JobHandler {
  return (job, owner, leaseMs) =>
    withTransaction(deps.pool, async (tx) => {
      const target = Number(job.params.kek_version);
      const vault = await getVault(tx, job.org_id, job.vault_id as string);
      if (!vault) throw new Error('vault no longer exists');
      const { rows } = await tx.query<{ secret_id: string; version: number; wrapped_dek: Buffer }>(
        `SELECT secret_id, version, wrapped_dek FROM secret_versions
          WHERE vault_id = $1 AND kek_version > 0 AND kek_version < $2 AND destroyed_at IS NULL
          ORDER BY secret_id, version LIMIT $3 FOR UPDATE SKIP LOCKED`,
        [vault.id, target, BATCH],
      );
      const keys = { ...(await deps.vaults.keys(tx, vault)), currentKekVersion: target };
      const rewrites: VersionRewrite[] = [];
      for (const r of rows) {
        const next = await deps.envelope.rewrapDek(keys, r.wrapped_dek);
        rewrites.push({ secretId: r.secret_id, version: r.version, ...next });
      }
      await rewriteVersions(tx, rewrites);
      const ownsLease = await recordProgress(tx, job.id, owner, rows.length, leaseMs);
      if (!ownsLease) throw new LeaseLost();
      // SKIP LOCKED may pass over rows another transaction holds; only an exact count says done.
      const more =
        rows.length === BATCH ||
        (
          await tx.query<{ left: number }>(
            `SELECT count(*)::int AS left FROM secret_versions
              WHERE vault_id = $1 AND kek_version > 0 AND kek_version < $2 AND destroyed_at IS NULL`,
            [vault.id, target],
          )
        ).rows[0]?.left !== 0;
      if (!more) {
        await appendAudit(tx, {
          orgId: job.org_id,
          actor: 'system',
          action: 'vault.kek.rewrapped',
          decision: 'allow',
          vaultId: vault.id,
          details: { kek_version: target, job_id: job.id },
        });
        await recordEvent(tx, { vaultId: vault.id, kind: 'vault.kek_rotated' });
      }
      return { processed: rows.length, more, ownsLease };
    }).catch((err: unknown) => {
      if (err instanceof LeaseLost) return { processed: 0, more: true, ownsLease: false };
      throw err;
    });
}

class LeaseLost extends Error {}
