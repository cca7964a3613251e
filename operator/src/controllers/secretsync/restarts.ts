// Rollout restarts of the workloads that use a synced Secret. The restart a change makes owed is
// recorded in the SecretSync's status (status.pendingRestart) by the same write that records the
// new secretHash, and removed only once every workload it names was restarted after that change:
// whichever replica leads when the window ends (this one, or a new leader that found it in
// status) makes it, so a crash or a leader change cannot drop it — at worst a workload restarts
// twice. Restarts are debounced per workload: the first change starts a window, and every change
// to any Secret the workload uses within it is served by one restart at its end, so a rotation of
// many secrets restarts each workload once. A restart is what `kubectl rollout restart` does: a
// new timestamp annotation on the pod template.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { jittered, TEN_PERCENT_JITTER } from '../../../../common/src/backoff.js';
import {
  API_VERSION,
  type PendingRestart,
  PLURAL_SYNCS,
  type RolloutRestartTarget,
  type SecretSync,
} from '../../apis/v1alpha1/types.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { ObjectCache } from '../../runtime/informer-cache.js';
import { keyOf, type ObjectKey, parseKey } from '../../runtime/keys.js';
import { kubeRequest, namespacedPath, statusCodeOf } from '../../runtime/kube-request.js';

export const RESTARTED_AT = 'oneclaw.dev/restartedAt';

/** The counter's reason label: a workload restarted because a Secret it uses changed, or a failed attempt. */
export type RestartReason = 'secret_changed' | 'failed';

export interface Restarter {
  /**
   * Makes the restart `pending` (the sync's status.pendingRestart) records: each workload one
   * window after its first owed change (at once when that is past), then removes it from status.
   */
  ensure(sync: ObjectKey, pending: PendingRestart): void;
  stop(): void;
}

const PLURAL: Record<RolloutRestartTarget['kind'], string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

/** What became of a workload's last restart: when it was made (or given up), and why not. */
interface Outcome {
  at: number;
  failure?: string;
}

const describe = (t: RolloutRestartTarget) => `${t.kind} ${t.name}`;
/** Outcomes older than this cannot cover a pending restart any more (its change came after). */
const OUTCOME_TTL_MS = 3_600_000;
const CACHE_CATCH_UP_MS = 250;

export function createRestarter(deps: {
  kubeConfig: KubeConfig;
  logger: Logger;
  events: EventRecorder;
  /** The SecretSyncs as cached: where a pending restart is read back. */
  syncs: Pick<ObjectCache<SecretSync>, 'get'>;
  restarts?: Counter<'namespace' | 'reason'>;
  debounceMs?: number;
  /** Delay before retrying a workload whose restart failed for a reason that may pass (5xx, network). */
  retryMs?: number;
}): Restarter {
  const debounceMs = deps.debounceMs ?? 2_000;
  const retryMs = deps.retryMs ?? 5_000;
  const log = deps.logger.child({ component: 'restarts' });
  // Fired by stop(): a restart under way when leadership ends writes nothing more.
  const abort = new AbortController();
  const { signal } = abort;
  const timers = new Map<string, NodeJS.Timeout>();
  /** Workloads whose restart request is on its way (a sync joining now is settled after it). */
  const running = new Set<string>();
  /** Per workload: the syncs whose pending restart waits for it. */
  const waiting = new Map<string, Set<string>>();
  const outcomes = new Map<string, Outcome>();
  const settling = new Map<string, { again: boolean }>();

  const workloadId = (namespace: string, t: RolloutRestartTarget) => `${namespace}/${t.kind}/${t.name}`;
  // An unreadable time (the schema forbids it) counts as long past: served by any restart.
  const requestedAt = (pending: PendingRestart) => Date.parse(pending.requestedAt) || 0;
  /** A workload restart started after the change the sync owes one for serves it. */
  const covered = (id: string, pending: PendingRestart) => {
    const o = outcomes.get(id);
    return o !== undefined && o.at > requestedAt(pending);
  };
  const later = (fn: () => void, ms: number) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t;
  };

  const restart = async (namespace: string, target: RolloutRestartTarget) => {
    const id = workloadId(namespace, target);
    timers.delete(id);
    running.add(id);
    const at = Date.now();
    try {
      await kubeRequest(deps.kubeConfig, {
        method: 'PATCH',
        path: namespacedPath('apps/v1', PLURAL[target.kind], namespace, target.name),
        contentType: 'application/merge-patch+json',
        body: {
          spec: { template: { metadata: { annotations: { [RESTARTED_AT]: new Date(at).toISOString() } } } },
        },
        signal,
      });
      outcomes.set(id, { at });
      deps.restarts?.inc({ namespace, reason: 'secret_changed' });
    } catch (err) {
      running.delete(id);
      if (signal.aborted) return;
      deps.restarts?.inc({ namespace, reason: 'failed' });
      const code = statusCodeOf(err);
      log.warn(
        { target: id, status: code, err: { message: (err as Error).message } },
        'rollout restart failed',
      );
      if (code !== undefined && code >= 400 && code < 500 && code !== 429) {
        // Missing, forbidden or invalid: retrying changes nothing until someone acts.
        outcomes.set(id, { at, failure: code === 404 ? 'not found' : `refused (${code})` });
      } else {
        timers.set(
          id,
          later(() => void restart(namespace, target), jittered(retryMs, TEN_PERCENT_JITTER)),
        );
        return;
      }
    }
    running.delete(id);
    const syncs = waiting.get(id) ?? new Set();
    waiting.delete(id);
    for (const key of syncs) settle(key);
    for (const [k, o] of outcomes) if (at - o.at > OUTCOME_TTL_MS) outcomes.delete(k);
  };

  const ensure = (sync: ObjectKey, pending: PendingRestart) => {
    if (signal.aborted) return;
    const key = keyOf(sync);
    let open = 0;
    for (const t of pending.targets) {
      const id = workloadId(sync.namespace, t);
      if (covered(id, pending)) continue;
      open++;
      const set = waiting.get(id) ?? new Set();
      set.add(key);
      waiting.set(id, set);
      if (!timers.has(id) && !running.has(id)) {
        const due = requestedAt(pending) + debounceMs - Date.now();
        timers.set(
          id,
          later(() => void restart(sync.namespace, t), due),
        );
      }
    }
    if (open === 0) settle(key);
  };

  /**
   * Once every workload of the sync's pending restart is served: the record removed, and an Event.
   * True: the record changed meanwhile, read it again. The cached copy may lag behind the
   * apiserver's; the removal tests the record it read, so a stale copy can delay a removal but
   * never remove a change unserved.
   */
  const settleOnce = async (key: string): Promise<boolean> => {
    const { namespace, name } = parseKey(key);
    const path = namespacedPath(API_VERSION, PLURAL_SYNCS, namespace, name);
    const sync = deps.syncs.get(namespace, name);
    const pending = sync?.status?.pendingRestart;
    if (!sync || !pending) return false;
    const ids = pending.targets.map((t) => workloadId(namespace, t));
    if (!ids.every((id) => covered(id, pending))) {
      ensure({ namespace, name }, pending);
      return false;
    }
    try {
      await kubeRequest(deps.kubeConfig, {
        method: 'PATCH',
        path: `${path}/status`,
        contentType: 'application/json-patch+json',
        // Removed only if it is still the record just served; otherwise the next round serves the new one.
        body: [
          { op: 'test', path: '/status/pendingRestart/requestedAt', value: pending.requestedAt },
          { op: 'test', path: '/status/pendingRestart/secretHash', value: pending.secretHash },
          { op: 'remove', path: '/status/pendingRestart' },
        ],
        signal,
      });
    } catch (err) {
      if (signal.aborted || statusCodeOf(err) === 404) return false;
      const code = statusCodeOf(err);
      // A failed test means the record changed: read it again.
      if (code === 422 || code === 409) return true;
      throw err;
    }
    const done = pending.targets.filter((_, i) => !outcomes.get(ids[i] as string)?.failure);
    if (done.length) {
      await deps.events.event(
        sync,
        'Normal',
        'RolloutRestarted',
        `restarted ${done.map(describe).join(', ')}`,
        signal,
      );
    }
    const failed = pending.targets.flatMap((t, i) => {
      const failure = outcomes.get(ids[i] as string)?.failure;
      return failure ? [`${describe(t)} (${failure})`] : [];
    });
    if (failed.length) {
      await deps.events.event(
        sync,
        'Warning',
        'RolloutRestartFailed',
        `could not restart ${failed.join(', ')}`,
        signal,
      );
    }
    return false;
  };

  /** One settle per sync at a time; a request arriving meanwhile runs once more after it. */
  const settle = (key: string) => {
    const current = settling.get(key);
    if (current) {
      current.again = true;
      return;
    }
    const state = { again: false };
    settling.set(key, state);
    void (async () => {
      for (;;) {
        state.again = false;
        try {
          if (await settleOnce(key)) {
            // Give the cache the moment it needs to see the newer record.
            await new Promise((r) => later(() => r(undefined), CACHE_CATCH_UP_MS));
            state.again = true;
          }
        } catch (err) {
          log.warn({ sync: key, err: { message: (err as Error).message } }, 'pending restart not settled');
          await new Promise((r) => later(() => r(undefined), jittered(retryMs, TEN_PERCENT_JITTER)));
          state.again = true;
        }
        if (!state.again || signal.aborted) break;
      }
      settling.delete(key);
    })();
  };

  return {
    ensure,
    stop() {
      abort.abort();
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      waiting.clear();
    },
  };
}
