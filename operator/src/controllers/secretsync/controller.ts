// The SecretSync controller as it declares itself: it reconciles SecretSyncs, owns the Secrets
// it writes (an edit or deletion by hand is repaired), and watches OneclawVaults (a vault's id
// or access changed: the syncs that name it re-read). The vaults' change feeds enqueue the
// syncs that read a changed path, and the time from such an event to the Secret written is
// the propagation metric.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type Counter, Histogram, type Registry } from 'prom-client';
import { matchesPath } from '../../../../common/src/path-glob.js';
import { SYNCED_SECRETS, SYNCS, VAULTS } from '../../apis/v1alpha1/kinds.js';
import {
  API_VERSION,
  KIND_SYNC,
  type OneclawVault,
  REFRESH_ANNOTATION,
  type SecretSync,
} from '../../apis/v1alpha1/types.js';
import type { Identities } from '../../identity.js';
import type { EventRecorder } from '../../runtime/events.js';
import { generationChanged, keyOf, ownerKeys, ownKey } from '../../runtime/keys.js';
import type { ControllerFactory } from '../../runtime/manager.js';
import { createFeedFollowers } from './feed.js';
import { createSyncReconciler } from './reconciler.js';
import { createRestarter } from './restarts.js';
import { createRefreshMemo } from './schedule.js';
import { createSecretWrites } from './secret-writes.js';

/** Whether a SecretSync's data or dataFrom covers a secret path. */
export function readsPath(sync: SecretSync, path: string): boolean {
  return (
    (sync.spec.data ?? []).some((d) => d.path === path) ||
    (sync.spec.dataFrom ?? []).some((d) => matchesPath(d.path, path))
  );
}

const syncOwners = ownerKeys(KIND_SYNC, API_VERSION);

/** The propagation histogram, registered once per process (controllers are made per leadership term). */
export function syncPropagationMetric(registry: Registry): Histogram {
  return new Histogram({
    name: 'oneclaw_operator_sync_propagation_seconds',
    help: 'From a change-feed event to the Kubernetes Secret written',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });
}

export function secretSyncController(deps: {
  kubeConfig: KubeConfig;
  logger: Logger;
  identities: Identities;
  events: EventRecorder;
  propagation: Histogram;
  /** Rollout restarts by namespace and reason (rolloutRestartsMetric). */
  restartsTotal?: Counter<'namespace' | 'reason'>;
  restartDebounceMs?: number;
}): ControllerFactory {
  return ({ cache, enqueue }) => {
    const syncs = cache.objects(SYNCS);
    const writes = createSecretWrites((secret) => {
      for (const k of syncOwners(secret)) enqueue(k);
    });
    // Per SecretSync: when the first feed event it has not yet synced arrived.
    const pendingSince = new Map<string, number>();
    const refreshMemo = createRefreshMemo();
    const feed = createFeedFollowers({
      api: deps.identities.operator,
      logger: deps.logger,
      enqueue: (k, path) => {
        // Only the SecretSyncs that read the path the event names.
        const sync = syncs.get(k.namespace, k.name);
        if (path !== null && sync && !readsPath(sync, path)) return;
        const id = keyOf(k);
        if (!pendingSince.has(id)) pendingSince.set(id, Date.now());
        refreshMemo.invalidate(id);
        enqueue(k);
      },
    });
    const restarts = createRestarter({
      kubeConfig: deps.kubeConfig,
      logger: deps.logger,
      events: deps.events,
      syncs,
      ...(deps.restartsTotal ? { restarts: deps.restartsTotal } : {}),
      ...(deps.restartDebounceMs ? { debounceMs: deps.restartDebounceMs } : {}),
    });
    return {
      name: 'secretsync',
      watches: {
        for: {
          ...SYNCS,
          // A new refresh request is a metadata change that leaves the generation as it was.
          shouldEnqueueUpdate: (o, n) =>
            generationChanged(o, n) ||
            o.metadata?.annotations?.[REFRESH_ANNOTATION] !== n.metadata?.annotations?.[REFRESH_ANNOTATION],
        },
        watches: [
          // The Secrets it owns, less the events of its own writes: no second reconcile per write.
          {
            kind: SYNCED_SECRETS,
            map: (secret) => (writes.ownEvent(secret) ? [] : syncOwners(secret)),
          },
          {
            kind: VAULTS,
            map: (v) =>
              syncs
                .list(v.metadata?.namespace)
                .filter((s) => s.spec.vaultRef.name === v.metadata?.name)
                .flatMap(ownKey),
          },
        ],
      },
      reconciler: createSyncReconciler({
        kubeConfig: deps.kubeConfig,
        identities: deps.identities,
        syncs,
        vaults: cache.objects<OneclawVault>(VAULTS),
        events: deps.events,
        feed,
        restarts,
        target: { secrets: cache.objects(SYNCED_SECRETS), writes },
        onSynced: (s, changed) => {
          const id = keyOf({ namespace: s.metadata.namespace as string, name: s.metadata.name as string });
          const since = pendingSince.get(id);
          pendingSince.delete(id);
          if (since !== undefined && changed) deps.propagation.observe((Date.now() - since) / 1000);
        },
        refreshMemo,
      }),
      async stop() {
        // First: a restart due while the feed winds down must be left to the next leader, not half made.
        restarts.stop();
        await feed.stop();
      },
    };
  };
}
