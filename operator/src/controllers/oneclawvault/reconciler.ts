// OneclawVault: a vault in the API for a namespace, and its `access` list as grants to that
// namespace's service accounts. The vault is the one recording this object as its owner (found
// by uid, or created so; see ownership.ts), its id and KEK version recorded in status, and the
// grants converged to spec.access: added, changed and removed. The finalizer honours
// deletionPolicy: Retain keeps the vault and its data, Delete purges it (crypto-shredding) —
// only ever the vault this object owns.
import type { KubeConfig } from '@kubernetes/client-node';
import type { OneclawClient, Policy, PolicyCreateInput } from '../../../../sdk/src/index.js';
import { OneclawError } from '../../../../sdk/src/index.js';
import {
  API_VERSION,
  ConditionType,
  type OneclawVault,
  PLURAL_VAULTS,
  Reason,
  VAULT_FINALIZER,
} from '../../apis/v1alpha1/types.js';
import type { Reconciler } from '../../runtime/controller.js';
import type { EventRecorder } from '../../runtime/events.js';
import { addFinalizer, removeFinalizer } from '../../runtime/finalizers.js';
import type { ObjectCache } from '../../runtime/informer-cache.js';
import type { ObjectKey } from '../../runtime/keys.js';
import { namespacedPath } from '../../runtime/kube-request.js';
import { writeObjectStatus } from '../status.js';
import { findOwnedVault, resolveVault } from './ownership.js';

export { vaultNameFor } from './ownership.js';

export const serviceAccountPrincipal = (namespace: string, sa: string) =>
  `system:serviceaccount:${namespace}:${sa}`;

/** One grant, as compared between spec and API. */
function grantKey(g: {
  principal_id: string;
  secret_path_pattern: string;
  permissions: string[];
  expires_at?: string | null;
}) {
  const expires = g.expires_at ? new Date(g.expires_at).toISOString() : null;
  return JSON.stringify([g.principal_id, g.secret_path_pattern, [...g.permissions].sort(), expires]);
}

export function desiredGrants(vault: OneclawVault): PolicyCreateInput[] {
  const ns = vault.metadata.namespace as string;
  return (vault.spec.access ?? []).flatMap((a) =>
    a.paths.map((path) => ({
      principal_type: 'k8s_service_account' as const,
      principal_id: serviceAccountPrincipal(ns, a.serviceAccount),
      secret_path_pattern: path,
      permissions: [...a.permissions],
      ...(a.expiresAt ? { expires_at: a.expiresAt } : {}),
    })),
  );
}

export function createVaultReconciler(deps: {
  kubeConfig: KubeConfig;
  api: OneclawClient;
  cache: ObjectCache<OneclawVault>;
  events: EventRecorder;
  /** How often a Ready vault is looked at again (KEK version, drifted grants). */
  resyncMs?: number;
}): Reconciler {
  const { kubeConfig, api, events } = deps;
  const objectPath = (k: ObjectKey) => namespacedPath(API_VERSION, PLURAL_VAULTS, k.namespace, k.name);
  const status = (
    v: OneclawVault,
    fields: Record<string, unknown>,
    ready: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string },
    signal: AbortSignal,
  ) =>
    writeObjectStatus(
      kubeConfig,
      PLURAL_VAULTS,
      v,
      fields,
      [{ type: ConditionType.Ready, ...ready }],
      signal,
    );

  const notOwnedHint = (v: OneclawVault, hint: string, outcome: string, signal: AbortSignal) =>
    events.event(
      v,
      'Warning',
      Reason.VaultNotOwned,
      `status.vaultId named vault ${hint}, which this OneclawVault does not own: ${outcome}`,
      signal,
    );

  /** Deletion: the finalizer's work, on the owned vault only. */
  const finalize = async (
    v: OneclawVault,
    log: { info(o: object, m: string): void },
    signal: AbortSignal,
  ) => {
    const owned = await findOwnedVault(api, v);
    const hint = v.status?.vaultId;
    if (hint && hint !== owned?.id) await notOwnedHint(v, hint, 'left as it is', signal);
    if (owned && v.spec.deletionPolicy === 'Delete') {
      await api.vaults.delete(owned.id, { purge: true }).catch((err: unknown) => {
        if (!(err instanceof OneclawError && err.status === 404)) throw err;
      });
      await events.event(
        v,
        'Normal',
        'VaultPurged',
        `purged vault ${owned.id}: its secrets can never be decrypted again`,
        signal,
      );
      log.info({ vaultId: owned.id }, 'vault purged (deletionPolicy Delete)');
    } else if (owned) {
      await events.event(
        v,
        'Normal',
        'VaultRetained',
        `kept vault ${owned.id} (deletionPolicy Retain)`,
        signal,
      );
    }
  };

  const convergeGrants = async (v: OneclawVault, vaultId: string) => {
    const prefix = `system:serviceaccount:${v.metadata.namespace}:`;
    const current = (await api.policies.list(vaultId)).filter(
      (p) => p.principal_type === 'k8s_service_account' && p.principal_id.startsWith(prefix),
    );
    const want = new Map(desiredGrants(v).map((g) => [grantKey(g), g]));
    const have = new Map<string, Policy>(current.map((p) => [grantKey(p), p]));
    let added = 0;
    let removed = 0;
    for (const [k, g] of want) {
      if (!have.has(k)) {
        await api.policies.create(vaultId, g);
        added++;
      }
    }
    for (const [k, p] of have) {
      if (!want.has(k)) {
        await api.policies.delete(vaultId, p.id).catch((err: unknown) => {
          if (!(err instanceof OneclawError && err.status === 404)) throw err;
        });
        removed++;
      }
    }
    return { added, removed };
  };

  return {
    async reconcile(key, { log, signal }) {
      let v = deps.cache.get(key.namespace, key.name);
      if (!v) return undefined;

      if (v.metadata.deletionTimestamp) {
        await finalize(v, log, signal);
        await removeFinalizer(kubeConfig, objectPath(key), v, VAULT_FINALIZER, signal);
        return undefined;
      }

      v = await addFinalizer(kubeConfig, objectPath(key), v, VAULT_FINALIZER, signal);
      try {
        const resolved = await resolveVault(api, v, {
          description: v.spec.displayName ?? `${v.metadata.namespace}/${v.metadata.name}`,
          kmsKey: v.spec.kmsKey,
          custody: v.spec.custody,
        });
        if (!resolved.ok) {
          // Terminal until an admin or the resource's owner acts: looked at again on resync.
          const ready = { status: 'False' as const, reason: resolved.reason, message: resolved.message };
          if (await status(v, {}, ready, signal)) {
            await events.event(v, 'Warning', resolved.reason, resolved.message, signal);
          }
          return { requeueAfterMs: deps.resyncMs ?? 5 * 60_000 };
        }
        const { vault, created, replacedHint } = resolved;
        if (replacedHint) {
          await notOwnedHint(v, replacedHint, `status now names its own vault ${vault.id}`, signal);
        }
        if (created) {
          await events.event(
            v,
            'Normal',
            'VaultCreated',
            `created vault ${vault.id} (${vault.name})`,
            signal,
          );
        }
        const { added, removed } = await convergeGrants(v, vault.id);
        if (added || removed) {
          const message = `grants: ${added} added, ${removed} removed`;
          await events.event(v, 'Normal', 'AccessUpdated', message, signal);
        }
        const changed = await status(
          v,
          { vaultId: vault.id, kekKeyId: vault.kms_key_id, kekVersion: vault.kek_version },
          {
            status: 'True',
            reason: Reason.VaultReady,
            message: `vault ${vault.name} is ready with ${desiredGrants(v).length} grants`,
          },
          signal,
        );
        if (changed && v.status?.conditions?.find((c) => c.type === ConditionType.Ready)?.status !== 'True') {
          await events.event(v, 'Normal', Reason.VaultReady, `vault ${vault.id} is ready`, signal);
        }
      } catch (err) {
        if (err instanceof OneclawError) {
          const unavailable = err.status === 0 || err.status >= 500 || err.status === 429;
          const reason = unavailable ? Reason.ApiUnavailable : Reason.InvalidSpec;
          const message = `oneclaw API: ${err.code}: ${err.message}`;
          if (await status(v, {}, { status: 'False', reason, message }, signal)) {
            await events.event(v, 'Warning', reason, message, signal);
          }
        }
        throw err;
      }
      return { requeueAfterMs: deps.resyncMs ?? 5 * 60_000 };
    },
  };
}
