// Vaults: a namespace of secrets with its own KEK versions under a KMS root key.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  VAULT_NAME,
  type Vault,
  type VaultCreateInput,
  type VaultOwner,
  type VaultUpdateInput,
} from '../../../../contract/src/vaults.js';
import type { Envelope, VaultKeys } from '../../crypto/envelope.js';
import { type Queryable, UniqueViolationError, withTransaction } from '../../db/pool.js';
import type { KekCache } from '../../kms/cache.js';
import type { Kms } from '../../kms/kms.js';
import { appendAudit } from '../audit/audit-service.js';
import type { Principal } from '../auth/auth-service.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { recordEvent } from '../events/events-store.js';
import { destroyVersions } from '../secrets/secret-store.js';
import * as store from './vault-store.js';

/** Every vault change is audited as allowed, by the caller, on the vault. */
const auditVault = (
  tx: Queryable,
  p: Principal,
  action: string,
  vaultId: string,
  requestId?: string,
  details?: Record<string, string | number | boolean>,
) =>
  appendAudit(tx, {
    orgId: p.orgId,
    actor: p.subject,
    action,
    decision: 'allow',
    vaultId,
    requestId,
    details,
  });

const sameOwner = (a: VaultOwner, b: VaultOwner) =>
  a.kind === b.kind &&
  a.api_version === b.api_version &&
  a.namespace === b.namespace &&
  a.name === b.name &&
  a.uid === b.uid;

/** Audit details are flat. */
const ownerDetails = (o: VaultOwner) => ({
  owner_kind: o.kind,
  owner_api_version: o.api_version,
  owner_namespace: o.namespace,
  owner_name: o.name,
  owner_uid: o.uid,
});

export interface VaultService {
  create(p: Principal, input: VaultCreateInput, requestId?: string): Promise<Vault>;
  /** The org's vaults; only those in `only` when given, only the one `ownerUid` owns when given. */
  list(p: Principal, only?: Set<string>, opts?: { ownerUid?: string | undefined }): Promise<Vault[]>;
  get(p: Principal, id: string): Promise<Vault>;
  update(p: Principal, id: string, patch: VaultUpdateInput, requestId?: string): Promise<Vault>;
  remove(p: Principal, id: string, opts: { purge: boolean }, requestId?: string): Promise<void>;
  /** Records the owner of a vault that has none (vaults made before owners were recorded). */
  recordOwner(p: Principal, id: string, owner: VaultOwner, requestId?: string): Promise<Vault>;
  /** New KEK version for new writes; returns it. Re-wrapping older DEKs is the job's work. */
  addKekVersion(tx: pg.PoolClient, p: Principal, id: string, requestId?: string): Promise<number>;
  /** What the envelope needs to seal and open in this vault. */
  keys(db: Queryable, vault: store.VaultRow): Promise<VaultKeys>;
}

export function createVaultService(deps: {
  pool: pg.Pool;
  kms: Kms;
  kmsKeyUri: string;
  envelope: Envelope;
  cache: KekCache;
}): VaultService {
  const { pool, kms, envelope } = deps;

  const toApi = (v: store.VaultRow, kek: store.KekRow | undefined): Vault => ({
    id: v.id,
    name: v.name,
    description: v.description,
    kms_key: v.kms_key_uri,
    kms_backend: kek?.kms_backend ?? kms.current.name,
    kms_key_id: kek?.kms_key_id ?? kms.current.keyId,
    custody: v.custody,
    kek_version: v.current_kek_version,
    cmek_enabled: v.cmek_fingerprint !== null,
    cmek_fingerprint: v.cmek_fingerprint,
    owner: store.ownerOf(v),
    created_at: v.created_at.toISOString(),
    updated_at: v.updated_at.toISOString(),
  });

  const currentKek = async (db: Queryable, v: store.VaultRow) =>
    (await store.getKeks(db, v.id)).find((k) => k.version === v.current_kek_version);

  const load = async (db: Queryable, p: Principal, id: string, forUpdate = false) => {
    const v = await store.getVault(db, p.orgId, id, { forUpdate });
    if (!v) throw notFound('vault');
    return v;
  };

  const validateName = (name: string) => {
    if (!VAULT_NAME.test(name))
      throw badRequest(
        'name must be 1-63 lowercase letters, digits or dashes, starting and ending with a letter or digit',
      );
  };

  /** The owner uid is unique: the conflict names the owner, a name conflict the name. */
  const conflictOf = (err: UniqueViolationError, name: string | undefined, owner?: VaultOwner) =>
    err.constraint === 'vaults_owner_uid' && owner
      ? conflict(
          `${owner.kind} ${owner.namespace}/${owner.name} (uid ${owner.uid}) already owns a vault, possibly a deleted one`,
        )
      : conflict(`a vault named ${name} already exists`);

  return {
    async create(p, input, requestId) {
      validateName(input.name);
      const kmsKey = input.kms_key ?? deps.kmsKeyUri;
      if (kmsKey !== deps.kmsKeyUri) {
        throw badRequest(
          `kms_key ${JSON.stringify(kmsKey)} is not configured on this server; KMS keys come from server configuration only`,
        );
      }
      const id = randomUUID();
      // The KMS call happens before the transaction: no row lock is held across the network.
      const wrapped = await envelope.createKek(p.orgId, id, 1);
      const ref = kms.keyOf(wrapped);
      try {
        return await withTransaction(pool, async (tx) => {
          const v = await store.insertVault(
            tx,
            {
              id,
              org_id: p.orgId,
              name: input.name,
              description: input.description ?? '',
              kms_key_uri: kmsKey,
              custody: input.custody ?? 'wrapped',
              current_kek_version: 1,
              cmek_fingerprint: null,
            },
            input.owner ?? null,
          );
          const kek = { version: 1, wrapped_kek: wrapped, kms_backend: ref.backend, kms_key_id: ref.keyId };
          await store.insertKek(tx, id, kek);
          await auditVault(tx, p, 'vault.create', id, requestId, {
            custody: v.custody,
            kms_backend: ref.backend,
            kek_version: 1,
            ...(input.owner ? ownerDetails(input.owner) : {}),
          });
          await recordEvent(tx, { vaultId: id, kind: 'vault.created' });
          return toApi(v, kek);
        });
      } catch (err) {
        if (err instanceof UniqueViolationError) throw conflictOf(err, input.name, input.owner);
        throw err;
      }
    },

    async list(p, only, opts = {}) {
      const vaults = (await store.listVaults(pool, p.orgId, opts)).filter((v) => !only || only.has(v.id));
      return Promise.all(vaults.map(async (v) => toApi(v, await currentKek(pool, v))));
    },

    async get(p, id) {
      const v = await load(pool, p, id);
      return toApi(v, await currentKek(pool, v));
    },

    async update(p, id, patch, requestId) {
      if (patch.name !== undefined) validateName(patch.name);
      try {
        return await withTransaction(pool, async (tx) => {
          const v = await store.updateVault(tx, p.orgId, id, patch);
          if (!v) throw notFound('vault');
          await auditVault(tx, p, 'vault.update', id, requestId);
          return toApi(v, await currentKek(tx, v));
        });
      } catch (err) {
        if (err instanceof UniqueViolationError) throw conflict(`a vault named ${patch.name} already exists`);
        throw err;
      }
    },

    async remove(p, id, { purge }, requestId) {
      const keks = await withTransaction(pool, async (tx) => {
        // A soft-deleted vault keeps its keys, so it can still be purged; a purged one is gone.
        const v = await store.getVault(tx, p.orgId, id, { forUpdate: true, includeDeleted: purge });
        const keks = v ? (await store.getKeks(tx, v.id)).filter((k) => k.wrapped_kek !== null) : [];
        if (!v || (v.deleted_at && keks.length === 0)) throw notFound('vault');
        if (!v.deleted_at) await store.softDeleteVault(tx, id);
        if (purge) {
          // Every KEK and every version's value and DEK (KMS custody wraps DEKs with no KEK).
          await store.destroyKeks(tx, id);
          await destroyVersions(tx, { vaultId: id });
        }
        await auditVault(
          tx,
          p,
          purge ? 'vault.purge' : 'vault.delete',
          id,
          requestId,
          purge ? { keks_destroyed: keks.length } : {},
        );
        if (!v.deleted_at) await recordEvent(tx, { vaultId: id, kind: 'vault.deleted' });
        return keks;
      });
      if (purge) {
        for (const k of keks) {
          if (k.wrapped_kek) deps.cache.forget(k.wrapped_kek);
        }
      }
    },

    async recordOwner(p, id, owner, requestId) {
      try {
        return await withTransaction(pool, async (tx) => {
          const current = await load(tx, p, id, true);
          const existing = store.ownerOf(current);
          if (existing) {
            if (sameOwner(existing, owner)) return toApi(current, await currentKek(tx, current));
            throw conflict(
              `vault ${id} is already owned by ${existing.kind} ${existing.namespace}/${existing.name} (uid ${existing.uid}); an owner never changes`,
            );
          }
          const v = await store.recordOwner(tx, p.orgId, id, owner);
          if (!v) throw notFound('vault');
          await auditVault(tx, p, 'vault.owner.record', id, requestId, ownerDetails(owner));
          return toApi(v, await currentKek(tx, v));
        });
      } catch (err) {
        if (err instanceof UniqueViolationError) throw conflictOf(err, undefined, owner);
        throw err;
      }
    },

    async addKekVersion(tx, p, id, requestId) {
      const v = await load(tx, p, id, true);
      if (v.custody === 'kms') throw conflict('vaults in kms custody have no KEK to rotate');
      const version = v.current_kek_version + 1;
      const wrapped = await envelope.createKek(p.orgId, id, version);
      const ref = kms.keyOf(wrapped);
      await store.insertKek(tx, id, {
        version,
        wrapped_kek: wrapped,
        kms_backend: ref.backend,
        kms_key_id: ref.keyId,
      });
      await store.setCurrentKekVersion(tx, id, version);
      await auditVault(tx, p, 'vault.kek.rotate', id, requestId, {
        kek_version: version,
        kms_backend: ref.backend,
      });
      return version;
    },

    async keys(db, vault) {
      const keks = new Map(
        (await store.getKeks(db, vault.id)).map((k) => [k.version, k.wrapped_kek ?? undefined]),
      );
      return {
        orgId: vault.org_id,
        vaultId: vault.id,
        custody: vault.custody,
        currentKekVersion: vault.current_kek_version,
        wrappedKek: (version) => keks.get(version),
      };
    },
  };
}
