// SecretSync: reads what spec.serviceAccountName is granted in the referenced vault — as that
// service account, through a TokenRequest token exchanged at /v1/auth/k8s-token, so a sync can
// never read more than its account may — and writes it to a Kubernetes Secret it owns. The
// Secret is restored when edited or deleted by hand; the vault's change feed pushes writes;
// refreshInterval is the fallback. When the account loses access the sync turns not-Ready with
// reason AccessDenied, and spec.onAccessLoss decides whether the Secret is kept (Retain, the
// default: running pods keep working) or deleted (Delete). A sync naming an org-admin account
// is refused for good (AdminServiceAccount), with the same onAccessLoss treatment.
import type { KubeConfig } from '@kubernetes/client-node';
import { matchesPath } from '../../../../common/src/path-glob.js';
import { OneclawError } from '../../../../sdk/src/index.js';
import {
  ConditionType,
  DEFAULT_REFRESH_INTERVAL,
  type OneclawVault,
  type PendingRestart,
  PLURAL_SYNCS,
  REFRESH_ANNOTATION,
  Reason,
  type RolloutRestartTarget,
  type SecretSync,
} from '../../apis/v1alpha1/types.js';
import { ADMIN_IDENTITY_REFUSED, AdminIdentityError, type Identities } from '../../identity.js';
import { type Reconciler, TerminalError } from '../../runtime/controller.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { ObjectCache } from '../../runtime/informer-cache.js';
import { keyOf } from '../../runtime/keys.js';
import { statusCodeOf } from '../../runtime/kube-request.js';
import { type ConditionInput, writeObjectStatus } from '../status.js';
import type { FeedFollowers } from './feed.js';
import {
  contentFingerprint,
  dataFromKey,
  listPrefix,
  renderTemplate,
  type SyncedEntry,
  TemplateError,
} from './render.js';
import type { Restarter } from './restarts.js';
import { nextRefreshDelay, type RefreshMemo } from './schedule.js';
import { applyTarget, removeTarget, SyncFailure, type TargetCache } from './target.js';

/** Secrets one sync reads from the API at once. */
const READS_IN_FLIGHT = 8;

/** "1h30m" → ms. */
export function parseInterval(s: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s);
  if (!m || s === '') return 3_600_000;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

/**
 * The restart owed once the content moved on: dated now (the debounce window of each workload
 * starts at its first owed change), and still naming what an earlier unserved record named.
 */
function owedRestart(s: SecretSync, secretHash: string): PendingRestart | undefined {
  const targets = new Map<string, RolloutRestartTarget>();
  for (const t of [...(s.status?.pendingRestart?.targets ?? []), ...(s.spec.rolloutRestartTargets ?? [])])
    targets.set(`${t.kind}/${t.name}`, { kind: t.kind, name: t.name });
  if (!targets.size) return undefined;
  return { requestedAt: new Date().toISOString(), secretHash, targets: [...targets.values()].slice(0, 32) };
}

/** Why a read failed, as the sync's condition; undefined: retry (the API is unavailable). */
function classify(err: unknown): { reason: string; message: string } | undefined {
  if (err instanceof OneclawError) {
    if (err.status === 0 || err.status === 429 || err.status >= 500) return undefined;
    if (err.status === 401 || err.status === 403) {
      return {
        reason: Reason.AccessDenied,
        message: `the service account may not read it: ${err.code}: ${err.message}`,
      };
    }
    return { reason: Reason.SyncFailed, message: `${err.code}: ${err.message}` };
  }
  if (statusCodeOf(err) === 404)
    return { reason: Reason.InvalidSpec, message: 'the service account does not exist' };
  return undefined;
}

export function createSyncReconciler(deps: {
  kubeConfig: KubeConfig;
  identities: Identities;
  syncs: ObjectCache<SecretSync>;
  vaults: ObjectCache<OneclawVault>;
  events: EventRecorder;
  feed: FeedFollowers;
  restarts: Restarter;
  /** The synced Secrets as cached, read before asking the apiserver. */
  target?: TargetCache;
  /** Observed API-write → Secret-update latency, when the write time is known. */
  onSynced?: (sync: SecretSync, changed: boolean) => void;
  /** What each sync was last read with; without it every reconcile reads. */
  refreshMemo?: RefreshMemo;
}): Reconciler {
  const { kubeConfig, events } = deps;
  const memo = deps.refreshMemo;

  const status = (
    s: SecretSync,
    fields: Record<string, unknown>,
    conditions: ConditionInput[],
    signal: AbortSignal,
  ) => writeObjectStatus(kubeConfig, PLURAL_SYNCS, s, fields, conditions, signal);

  const notReady = async (
    s: SecretSync,
    signal: AbortSignal,
    reason: string,
    message: string,
    type: 'Warning' | 'Normal' = 'Warning',
  ) => {
    const wrote = await status(
      s,
      {},
      [
        { type: ConditionType.Ready, status: 'False', reason, message },
        { type: ConditionType.Synced, status: 'False', reason, message },
      ],
      signal,
    );
    if (wrote) await events.event(s, type, reason, message, signal);
  };

  /** Reads every requested secret as the sync's service account. */
  const read = async (s: SecretSync, vaultId: string) => {
    const api = deps.identities.as(s.metadata.namespace as string, s.spec.serviceAccountName);
    const values = new Map<string, string>();
    const entries = new Map<string, SyncedEntry>();
    // In the order the values apply: a data entry overrides a dataFrom key of the same name.
    const wanted: Array<{ key: string; path: string; version?: number | undefined }> = [];
    try {
      for (const from of s.spec.dataFrom ?? []) {
        for await (const meta of api.secrets.listAll(vaultId, { prefix: listPrefix(from.path) })) {
          if (matchesPath(from.path, meta.path))
            wanted.push({ key: dataFromKey(from.path, meta.path), path: meta.path });
        }
      }
      for (const d of s.spec.data ?? []) wanted.push({ key: d.secretKey, path: d.path, version: d.version });
      // A few reads at a time: a sync's handful of secrets costs one round trip, not one each.
      for (let i = 0; i < wanted.length; i += READS_IN_FLIGHT) {
        const batch = wanted.slice(i, i + READS_IN_FLIGHT);
        const got = await Promise.all(
          batch.map((w) => api.secrets.get(vaultId, w.path, w.version ? { version: w.version } : {})),
        );
        batch.forEach((w, j) => {
          const secret = got[j] as (typeof got)[number];
          values.set(w.key, secret.value);
          entries.set(w.key, { key: w.key, path: w.path, version: secret.version });
        });
      }
    } catch (err) {
      if (err instanceof OneclawError && err.code === ADMIN_IDENTITY_REFUSED)
        throw new AdminIdentityError(err.message);
      const why = classify(err);
      if (!why) throw err;
      throw new SyncFailure(why.reason, why.message);
    }
    return { values, entries: [...entries.values()] };
  };

  return {
    async reconcile(key, { log, signal }) {
      const s = deps.syncs.get(key.namespace, key.name);
      if (!s || s.metadata.deletionTimestamp) {
        // The Secret goes with it (owner reference); only the feed interest is ours to drop.
        deps.feed.forget(key);
        memo?.forget(keyOf(key));
        return undefined;
      }
      // A restart recorded by a replica that led before this one is owed for a Secret already
      // written, whatever this reconcile's outcome.
      if (s.status?.pendingRestart) deps.restarts.ensure(key, s.status.pendingRestart);
      const refresh = parseInterval(s.spec.refreshInterval ?? DEFAULT_REFRESH_INTERVAL);
      const targetName = s.spec.target?.name ?? (s.metadata.name as string);

      const vault = deps.vaults.get(key.namespace, s.spec.vaultRef.name);
      if (!vault) {
        await notReady(
          s,
          signal,
          Reason.VaultNotFound,
          `no OneclawVault ${s.spec.vaultRef.name} in this namespace`,
        );
        return { requeueAfterMs: 30_000 };
      }
      const vaultId = vault.status?.vaultId;
      if (!vaultId) {
        await notReady(
          s,
          signal,
          Reason.VaultNotReady,
          `OneclawVault ${s.spec.vaultRef.name} has no vault yet`,
          'Normal',
        );
        return { requeueAfterMs: 5_000 };
      }
      deps.feed.watch(vaultId, key);
      // Read before the refresh slot only when something that decides the Secret moved since the
      // last read (the spec, a refresh request, the vault, the Secret, a feed event).
      const inputs =
        memo &&
        deps.target &&
        JSON.stringify([
          s.metadata.generation,
          s.metadata.annotations?.[REFRESH_ANNOTATION],
          // Not its generation: the vault's status write after its grants changed is the signal.
          vault.metadata.resourceVersion,
          deps.target.secrets.get(key.namespace, targetName)?.metadata?.resourceVersion,
        ]);
      const wait = inputs ? memo.wait(keyOf(key), inputs) : undefined;
      if (wait !== undefined) return { requeueAfterMs: wait };
      const readToken = memo?.begin(keyOf(key));

      let changed: boolean;
      let dataChanged: boolean;
      let writtenBefore: boolean;
      let entries: SyncedEntry[];
      let fingerprint: string;
      try {
        const got = await read(s, vaultId);
        entries = got.entries;
        let data = got.values;
        const template = s.spec.target?.template?.data;
        if (template) data = renderTemplate(template, got.values);
        fingerprint = contentFingerprint({
          entries,
          template,
          type: s.spec.target?.type ?? 'Opaque',
        });
        ({ changed, dataChanged, writtenBefore } = await applyTarget(
          kubeConfig,
          s,
          targetName,
          data,
          fingerprint,
          signal,
          deps.target,
        ));
      } catch (err) {
        if (err instanceof TemplateError) {
          await notReady(s, signal, Reason.InvalidSpec, err.message);
          throw new TerminalError(err.message);
        }
        if (err instanceof AdminIdentityError) {
          if (s.spec.onAccessLoss === 'Delete') await removeTarget(kubeConfig, events, s, targetName, signal);
          await notReady(s, signal, Reason.AdminServiceAccount, err.message);
          throw new TerminalError(err.message);
        }
        if (err instanceof SyncFailure) {
          if (err.reason === Reason.AccessDenied && s.spec.onAccessLoss === 'Delete')
            await removeTarget(kubeConfig, events, s, targetName, signal);
          await notReady(s, signal, err.reason, err.message);
          log.info({ reason: err.reason }, 'sync not possible');
          return { requeueAfterMs: Math.min(refresh, 60_000) };
        }
        if (err instanceof OneclawError)
          await notReady(s, signal, Reason.ApiUnavailable, `oneclaw API: ${err.code}`);
        throw err;
      }

      const previous = s.status?.secretHash;
      const contentChanged = previous !== fingerprint;
      const message = `Secret ${targetName} holds ${entries.length} secret(s)`;
      // Restart the workloads when the data moved on: not on the first sync, not on drift repair
      // (the fingerprint is unchanged), not on a spec edit that renders the same data. A Secret
      // already written from this fingerprint while status still holds the old one is an earlier
      // reconcile whose status write was lost: the restart it owed is made now. The restart is
      // recorded by the same write as the new fingerprint, so no crash can separate them.
      const owed =
        previous && contentChanged && (dataChanged || writtenBefore)
          ? owedRestart(s, fingerprint)
          : undefined;
      const refreshRequest = s.metadata.annotations?.[REFRESH_ANNOTATION];
      await status(
        s,
        {
          targetName,
          secretHash: fingerprint,
          syncedVersions: Object.fromEntries(entries.map((e) => [e.path, e.version])),
          ...(contentChanged || changed || !s.status?.lastSyncTime
            ? { lastSyncTime: new Date().toISOString() }
            : {}),
          ...(owed ? { pendingRestart: owed } : {}),
          ...(refreshRequest !== undefined ? { lastRefreshRequest: refreshRequest } : {}),
        },
        [
          { type: ConditionType.Ready, status: 'True', reason: Reason.SyncSucceeded, message },
          { type: ConditionType.Synced, status: 'True', reason: Reason.SyncSucceeded, message },
        ],
        signal,
      );
      if (changed) {
        const reason = previous ? 'SecretUpdated' : 'SecretCreated';
        await events.event(s, 'Normal', reason, message, signal);
      }
      if (owed) deps.restarts.ensure(key, owed);
      deps.onSynced?.(s, changed);
      const next = nextRefreshDelay(refresh, s.metadata.uid ?? keyOf(key));
      if (inputs && readToken !== undefined) memo.record(keyOf(key), inputs, Date.now() + next, readToken);
      return { requeueAfterMs: next };
    },
  };
}
