// KEK rotation: the vault already writes under its new KEK version; this job re-wraps the DEKs
// of older versions to it, a batch per transaction, without touching value ciphertexts. Reads
// and writes go on meanwhile (old KEK versions stay until nothing uses them). Resuming after a
// crash simply continues: a batch only selects DEKs still under an older KEK.
import type pg from 'pg';
import type { Envelope, VaultKeys } from '../../crypto/envelope.js';
import { recordEvent } from '../events/events-store.js';
import { rewriteVersions, type VersionRewrite } from '../secrets/secret-store.js';
import type { VaultService } from '../vaults/vault-service.js';
import { getVault } from '../vaults/vault-store.js';
import { auditJobDone, batchHandler, fullOrLeft, type JobHandler, type RewrapJob } from './engine.js';
import { countUnderOlderKek, lockUnderOlderKek, type WrappedDekRow } from './job-store.js';

export const ROTATE_KEK = 'rotate-kek';

interface Batch {
  vaultId: string;
  target: number;
  keys: VaultKeys;
}

export function rotateKek(deps: {
  envelope: Envelope;
  vaults: VaultService;
}): RewrapJob<WrappedDekRow, VersionRewrite, Batch> {
  return {
    async prepare(tx, job) {
      const target = Number(job.params.kek_version);
      const vault = await getVault(tx, job.org_id, job.vault_id as string);
      if (!vault) throw new Error('vault no longer exists');
      const keys = { ...(await deps.vaults.keys(tx, vault)), currentKekVersion: target };
      return { vaultId: vault.id, target, keys };
    },
    select: (tx, _job, b, limit) => lockUnderOlderKek(tx, b.vaultId, b.target, limit),
    async rewrap(_tx, b, row) {
      const next = await deps.envelope.rewrapDek(b.keys, row.wrapped_dek);
      return { secretId: row.secret_id, version: row.version, ...next };
    },
    write: (tx, _job, _b, done) => rewriteVersions(tx, done),
    more: (tx, _job, b, selected) => fullOrLeft(selected, () => countUnderOlderKek(tx, b.vaultId, b.target)),
    async finish(tx, job, b) {
      await auditJobDone(tx, job, 'vault.kek.rewrapped', b.vaultId, { kek_version: b.target });
      await recordEvent(tx, { vaultId: b.vaultId, kind: 'vault.kek_rotated' });
    },
  };
}

export function rotateKekHandler(deps: {
  pool: pg.Pool;
  envelope: Envelope;
  vaults: VaultService;
}): JobHandler {
  return batchHandler(deps.pool, rotateKek(deps));
}
