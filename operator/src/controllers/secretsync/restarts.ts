// Rollout restarts of the workloads that use a synced Secret, debounced: the first change
// starts a short window, and every change to any Secret the workload uses within it is served
// by one restart at its end — a rotation of many secrets restarts each workload once. A restart
// is what `kubectl rollout restart` does: a new timestamp annotation on the pod template.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RolloutRestartTarget } from '../../apis/v1alpha1/types.js';
import type { EventRecorder } from '../../runtime/events.js';
import { kubeRequest, namespacedPath, statusCodeOf } from '../../runtime/kube-request.js';

export const RESTARTED_AT = 'oneclaw.dev/restartedAt';

export interface Restarter {
  /** Restarts `target` in `namespace` at the end of the current window (starting one if none). */
  schedule(namespace: string, target: RolloutRestartTarget, cause: KubernetesObject): void;
  stop(): void;
}

const PLURAL: Record<RolloutRestartTarget['kind'], string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

export function createRestarter(deps: {
  kubeConfig: KubeConfig;
  logger: Logger;
  events: EventRecorder;
  debounceMs?: number;
}): Restarter {
  const pending = new Map<string, NodeJS.Timeout>();
  const debounceMs = deps.debounceMs ?? 2_000;
  // Fired by stop(): a restart already under way when leadership ends writes nothing more.
  const abort = new AbortController();
  return {
    schedule(namespace, target, cause) {
      const id = `${namespace}/${target.kind}/${target.name}`;
      if (pending.has(id)) return;
      const timer = setTimeout(async () => {
        pending.delete(id);
        const at = new Date().toISOString();
        try {
          await kubeRequest(deps.kubeConfig, {
            method: 'PATCH',
            path: namespacedPath('apps/v1', PLURAL[target.kind], namespace, target.name),
            contentType: 'application/merge-patch+json',
            body: { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } },
            signal: abort.signal,
          });
          await deps.events.event(
            cause,
            'Normal',
            'RolloutRestarted',
            `restarted ${target.kind} ${target.name}`,
            abort.signal,
          );
        } catch (err) {
          if (abort.signal.aborted) return;
          const missing = statusCodeOf(err) === 404;
          deps.logger.warn(
            { target: id, err: { message: (err as Error).message } },
            'rollout restart failed',
          );
          await deps.events.event(
            cause,
            'Warning',
            'RolloutRestartFailed',
            missing
              ? `${target.kind} ${target.name} not found`
              : `could not restart ${target.kind} ${target.name}`,
          );
        }
      }, debounceMs);
      timer.unref();
      pending.set(id, timer);
    },
    stop() {
      abort.abort();
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
    },
  };
}
