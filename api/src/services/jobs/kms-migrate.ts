// `kms migrate`: moves vaults from a previous KMS root key (ONECLAW_KMS_PREVIOUS_KEYS) to the
// server's current one (ONECLAW_KMS_KEY), online. Phase 1 re-wraps every KEK version still
// under another key (the KEK material, and so every DEK and value, is unchanged); phase 2
// re-wraps the DEKs of vaults in kms custody, which the KMS wraps directly. Progress and the
// phase-2 cursor are committed with each batch, so a runner that dies is replaced by one that
// continues where it stopped. Reads and writes go on meanwhile: the previous key stays
// configured until the job has succeeded (docs/crypto.md).
import type pg from 'pg';
import type { Envelope, VaultKeys } from '../../crypto/envelope.js';
import type { Queryable } from '../../db/pool.js';
import type { Kms } from '../../kms/kms.js';
import { rewriteVersions, type VersionRewrite } from '../secrets/secret-store.js';
import type { VaultService } from '../vaults/vault-service.js';
import { getVault, rewrapKekVersion, setKmsKeyUri } from '../vaults/vault-store.js';
import { auditJobDone, BATCH, batchHandler, type JobHandler, type RewrapJob } from './engine.js';
import {
  countKmsMigration,
  type ForeignKekRow,
  type KmsDekRow,
  type KmsKeyRef,
  lockKeksUnderOtherKeys,
  lockKmsDeksAfter,
  START_CURSOR,
  saveParams,
  type VersionCursor,
} from './job-store.js';

export const KMS_MIGRATE = 'kms-migrate';

type Row = { kek: ForeignKekRow } | { dek: KmsDekRow };

interface Batch {
  orgId: string;
  scope: string | null;
  current: KmsKeyRef;
  phase: 'keks' | 'deks';
  /** Each vault's keys, read once per batch. */
  keysOf: Map<string, VaultKeys>;
}

/** What the job will look at: KEKs under another key plus every kms-custody DEK in scope. */
export function kmsMigrateTotal(
  db: Queryable,
  orgId: string,
  vaultId: string | null,
  kms: Kms,
): Promise<number> {
  return countKmsMigration(db, orgId, vaultId, currentKey(kms));
}

const currentKey = (kms: Kms): KmsKeyRef => ({ backend: kms.current.name, keyId: kms.current.keyId });

export function kmsMigrate(deps: {
  kms: Kms;
  kmsKeyUri: string;
  envelope: Envelope;
  vaults: VaultService;
}): RewrapJob<Row, VersionRewrite, Batch> {
  const { kms, envelope } = deps;
  return {
    async prepare(_tx, job) {
      return {
        orgId: job.org_id,
        scope: (job.params.vault_id as string | null | undefined) ?? null,
        current: currentKey(kms),
        phase: 'keks',
        keysOf: new Map(),
      };
    },
    async select(tx, job, b, limit) {
      const keks = await lockKeksUnderOtherKeys(tx, job.org_id, b.scope, b.current, limit);
      if (keks.length) return keks.map((kek) => ({ kek }));
      // Phase 2: kms-custody DEKs, walked in key order from the committed cursor.
      b.phase = 'deks';
      const cursor = (job.params.cursor as VersionCursor | undefined) ?? START_CURSOR;
      const deks = await lockKmsDeksAfter(tx, job.org_id, b.scope, cursor, limit);
      return deks.map((dek) => ({ dek }));
    },
    async rewrap(tx, b, row) {
      if ('kek' in row) {
        const k = row.kek;
        const next = await envelope.rewrapKek(b.orgId, k.vault_id, k.version, k.wrapped_kek, kms);
        const ref = kms.keyOf(next);
        await rewrapKekVersion(tx, k.vault_id, k.version, {
          wrapped_kek: next,
          kms_backend: ref.backend,
          kms_key_id: ref.keyId,
        });
        return undefined;
      }
      const d = row.dek;
      let keys = b.keysOf.get(d.vault_id);
      if (!keys) {
        const vault = await getVault(tx, b.orgId, d.vault_id, { includeDeleted: true });
        if (!vault) return undefined;
        keys = await deps.vaults.keys(tx, vault);
        b.keysOf.set(d.vault_id, keys);
      }
      const next = await envelope.rewrapKmsDek(keys, d.path, d.version, d.wrapped_dek);
      return (
        next && { secretId: d.secret_id, version: d.version, wrappedDek: next, kekVersion: d.kek_version }
      );
    },
    async write(tx, job, _b, done, rows) {
      await rewriteVersions(tx, done);
      const last = rows.at(-1);
      if (last && 'dek' in last) {
        job.params.cursor = { secret_id: last.dek.secret_id, version: last.dek.version };
        await saveParams(tx, job.id, job.params);
      }
    },
    // Phase 1 skips locked KEKs, so only a batch that finds none ends it; phase 2 waits for
    // locked rows instead, so its first short batch is its last.
    more: async (_tx, _job, b, selected) => b.phase === 'keks' || selected === BATCH,
    async finish(tx, job, b) {
      const moved = await setKmsKeyUri(tx, job.org_id, b.scope, deps.kmsKeyUri);
      await auditJobDone(tx, job, 'kms.migrated', b.scope, {
        kms_backend: kms.current.name,
        kms_key_id: kms.current.keyId,
        vaults: moved.length,
      });
    },
  };
}

export function kmsMigrateHandler(deps: {
  pool: pg.Pool;
  kms: Kms;
  kmsKeyUri: string;
  envelope: Envelope;
  vaults: VaultService;
}): JobHandler {
  return batchHandler(deps.pool, kmsMigrate(deps));
}
