// `kms migrate`: moves vaults from a previous KMS root key (ONECLAW_KMS_PREVIOUS_KEYS) to the
// server's current one (ONECLAW_KMS_KEY), online. Phase 1 re-wraps every KEK version still
// under another key (the KEK material, and so every DEK and value, is unchanged); phase 2
// re-wraps the DEKs of vaults in kms custody, which the KMS wraps directly. 100 rows per
// transaction, progress and the phase-2 cursor committed with each batch, so a runner that dies
// is replaced by one that continues where it stopped. Reads and writes go on meanwhile: the
// previous key stays configured until the job has succeeded (docs/crypto.md).
import type pg from 'pg';
import type { Envelope } from '../../crypto/envelope.js';
import { withTransaction } from '../../db/pool.js';
import type { Kms } from '../../kms/kms.js';
import { appendAudit } from '../audit/audit-service.js';
import type { VaultService } from '../vaults/vault-service.js';
import { getVault } from '../vaults/vault-store.js';
import { recordProgress } from './job-store.js';
import { BATCH } from './rotate-kek.js';
import type { JobHandler } from './runner.js';

export const KMS_MIGRATE = 'kms-migrate';

interface Cursor {
  secret_id: string;
  version: number;
}

/** What the job will look at: KEKs under another key plus every kms-custody DEK in scope. */
export async function kmsMigrateTotal(
  db: pg.PoolClient,
  orgId: string,
  vaultId: string | null,
  kms: Kms,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM vault_keks k JOIN vaults v ON v.id = k.vault_id
              WHERE v.org_id = $1 AND ($2::uuid IS NULL OR v.id = $2) AND k.wrapped_kek IS NOT NULL
                AND (k.kms_backend <> $3 OR k.kms_key_id <> $4))
          + (SELECT count(*) FROM secret_versions s JOIN vaults v ON v.id = s.vault_id
              WHERE v.org_id = $1 AND ($2::uuid IS NULL OR v.id = $2) AND v.custody = 'kms'
                AND s.destroyed_at IS NULL) AS n`,
    [orgId, vaultId, kms.current.name, kms.current.keyId],
  );
  return Number(rows[0]?.n ?? 0);
}

export function kmsMigrateHandler(deps: {
  pool: pg.Pool;
  kms: Kms;
  kmsKeyUri: string;
  envelope: Envelope;
  vaults: VaultService;
}): JobHandler {
  const { kms, envelope } = deps;
  return (job, owner, leaseMs) =>
    withTransaction(deps.pool, async (tx) => {
      const scope = (job.params.vault_id as string | null | undefined) ?? null;
      const { rows: keks } = await tx.query<{
        vault_id: string;
        version: number;
        wrapped_kek: Buffer;
      }>(
        `SELECT k.vault_id, k.version, k.wrapped_kek FROM vault_keks k JOIN vaults v ON v.id = k.vault_id
          WHERE v.org_id = $1 AND ($2::uuid IS NULL OR v.id = $2) AND k.wrapped_kek IS NOT NULL
            AND (k.kms_backend <> $3 OR k.kms_key_id <> $4)
          ORDER BY k.vault_id, k.version LIMIT $5 FOR UPDATE OF k SKIP LOCKED`,
        [job.org_id, scope, kms.current.name, kms.current.keyId, BATCH],
      );
      for (const k of keks) {
        const next = await envelope.rewrapKek(job.org_id, k.vault_id, k.version, k.wrapped_kek, kms);
        const ref = kms.keyOf(next);
        await tx.query(
          'UPDATE vault_keks SET wrapped_kek = $3, kms_backend = $4, kms_key_id = $5 WHERE vault_id = $1 AND version = $2',
          [k.vault_id, k.version, next, ref.backend, ref.keyId],
        );
      }
      let processed = keks.length;
      let more = keks.length > 0;
      if (!more) {
        // Phase 2: kms-custody DEKs, walked in key order from the committed cursor.
        const cursor = (job.params.cursor as Cursor | undefined) ?? {
          secret_id: '00000000-0000-0000-0000-000000000000',
          version: 0,
        };
        const { rows: deks } = await tx.query<{
          secret_id: string;
          version: number;
          vault_id: string;
          path: string;
          wrapped_dek: Buffer;
        }>(
          `SELECT s.secret_id, s.version, s.vault_id, p.path, s.wrapped_dek
             FROM secret_versions s JOIN vaults v ON v.id = s.vault_id JOIN secrets p ON p.id = s.secret_id
            WHERE v.org_id = $1 AND ($2::uuid IS NULL OR v.id = $2) AND v.custody = 'kms'
              AND s.destroyed_at IS NULL AND (s.secret_id, s.version) > ($3::uuid, $4::int)
            ORDER BY s.secret_id, s.version LIMIT $5 FOR UPDATE OF s`,
          [job.org_id, scope, cursor.secret_id, cursor.version, BATCH],
        );
        const keysOf = new Map<string, Awaited<ReturnType<VaultService['keys']>>>();
        for (const d of deks) {
          let vk = keysOf.get(d.vault_id);
          if (!vk) {
            const vault = await getVault(tx, job.org_id, d.vault_id, { includeDeleted: true });
            if (!vault) continue;
            vk = await deps.vaults.keys(tx, vault);
            keysOf.set(d.vault_id, vk);
          }
          const next = await envelope.rewrapKmsDek(vk, d.path, d.version, d.wrapped_dek);
          if (next)
            await tx.query(
              'UPDATE secret_versions SET wrapped_dek = $3 WHERE secret_id = $1 AND version = $2',
              [d.secret_id, d.version, next],
            );
        }
        const last = deks.at(-1);
        if (last) {
          job.params.cursor = { secret_id: last.secret_id, version: last.version };
          await tx.query('UPDATE jobs SET params = $2 WHERE id = $1', [job.id, JSON.stringify(job.params)]);
        }
        processed = deks.length;
        more = deks.length === BATCH;
      }
      if (!(await recordProgress(tx, job.id, owner, processed, leaseMs))) throw new LeaseLost();
      if (!more) {
        const { rows: moved } = await tx.query<{ id: string }>(
          `UPDATE vaults SET kms_key_uri = $3, updated_at = now()
            WHERE org_id = $1 AND ($2::uuid IS NULL OR id = $2) AND kms_key_uri <> $3 RETURNING id`,
          [job.org_id, scope, deps.kmsKeyUri],
        );
        await appendAudit(tx, {
          orgId: job.org_id,
          actor: 'system',
          action: 'kms.migrated',
          decision: 'allow',
          ...(scope ? { vaultId: scope } : {}),
          details: {
            job_id: job.id,
            kms_backend: kms.current.name,
            kms_key_id: kms.current.keyId,
            vaults: moved.length,
          },
        });
      }
      return { processed, more, ownsLease: true };
    }).catch((err: unknown) => {
      if (err instanceof LeaseLost) return { processed: 0, more: true, ownsLease: false };
      throw err;
    });
}

class LeaseLost extends Error {}
