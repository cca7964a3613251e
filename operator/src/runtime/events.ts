// Kubernetes Events (core/v1) about the objects the operator manages, so `kubectl describe`
// shows what happened. Repeats of one event (same object, type, reason and message) within ten
// minutes bump count and lastTimestamp on the existing Event instead of creating another, as
// client-go's recorder does. Recording is best effort: failures are logged, never thrown, so an
// Event can never fail a reconcile. Routine Events (the reasons named `droppable`) are also rate
// limited, as the apiserver's EventRateLimit and client-go's spam filter do: thousands of
// SecretSyncs synced at once would otherwise spend a third of the apiserver's writes on them;
// beyond the limit they are dropped (and counted). Other Events, Warnings above all, never are.
//
// CONTRACT: `reason` and `message` are stored in the cluster and shown to anyone who can read
// Events in the namespace. Callers pass CamelCase reason constants and messages built from
// names, paths, versions and error descriptions — never a secret value, key material or token.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { createLimiter } from '../../../common/src/limiter.js';
import { kubeRequest, namespacedPath, statusCodeOf } from './kube-request.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /**
   * Records (or aggregates) an Event on obj. Never throws. See the contract above about message.
   * `signal` (a reconcile's) cancels the write.
   */
  event(
    obj: KubernetesObject,
    type: EventType,
    reason: string,
    message: string,
    signal?: AbortSignal,
  ): Promise<void>;
}

export interface EventRecorderOptions {
  kubeConfig: KubeConfig;
  /** Written to source.component and reportingComponent, e.g. 'oneclaw-operator'. */
  component: string;
  logger: Logger;
  /** Written to reportingInstance; default the host name (the pod name in a cluster). */
  instance?: string;
  /** Repeats within this window are aggregated. Default 10 min. */
  aggregateWindowMs?: number;
  /** Most recent distinct events remembered for aggregation. Default 4096. */
  maxTracked?: number;
  /** Reasons of routine Normal Events, which the rate limit may drop (default: none). */
  droppable?: ReadonlySet<string>;
  /** Routine Events written per second at most (default 10; burst 50). */
  droppablePerSecond?: number;
  /** Called with the reason of each Event dropped by the limit. */
  onDropped?: (reason: string) => void;
  now?: () => Date;
}

interface Tracked {
  namespace: string;
  name: string;
  count: number;
  lastAt: number;
}

interface EventObject {
  metadata: { name: string; namespace: string };
  count?: number;
}

const MAX_MESSAGE = 1024;

export function createEventRecorder(opts: EventRecorderOptions): EventRecorder {
  const windowMs = opts.aggregateWindowMs ?? 10 * 60_000;
  const maxTracked = opts.maxTracked ?? 4096;
  const now = opts.now ?? (() => new Date());
  const instance = opts.instance ?? hostname();
  const log = opts.logger.child({ component: opts.component });
  const tracked = new Map<string, Tracked>(); // insertion order = least recently recorded first
  const chains = new Map<string, Promise<void>>(); // one record at a time per aggregation key
  const droppable = opts.droppable ?? new Set<string>();
  const perSecond = opts.droppablePerSecond ?? 10;
  const routine = createLimiter({ perSecond, burst: perSecond * 5, maxKeys: 1 });

  const remember = (key: string, t: Tracked) => {
    tracked.delete(key);
    tracked.set(key, t);
    if (tracked.size > maxTracked) {
      const oldest = tracked.keys().next().value;
      if (oldest !== undefined) tracked.delete(oldest);
    }
  };

  const record = async (
    key: string,
    obj: KubernetesObject,
    type: EventType,
    reason: string,
    message: string,
    signal: AbortSignal | undefined,
  ) => {
    if (signal?.aborted) throw new Error('cancelled');
    const at = now();
    const stamp = at.toISOString();
    const md = obj.metadata ?? {};
    const namespace = md.namespace || 'default';
    const prev = tracked.get(key);
    if (prev && at.getTime() - prev.lastAt < windowMs) {
      try {
        const patched = await kubeRequest<EventObject>(opts.kubeConfig, {
          method: 'PATCH',
          path: namespacedPath('v1', 'events', prev.namespace, prev.name),
          contentType: 'application/merge-patch+json',
          body: { count: prev.count + 1, lastTimestamp: stamp },
          timeoutMs: 10_000,
          ...(signal ? { signal } : {}),
        });
        remember(key, { ...prev, count: patched.count ?? prev.count + 1, lastAt: at.getTime() });
        return;
      } catch (err) {
        if (statusCodeOf(err) !== 404) throw err;
        // The Event expired (default TTL 1 h) or was deleted: start a new one.
      }
    }
    const name = `${(md.name ?? 'object').slice(0, 200)}.${at.getTime().toString(16)}${randomBytes(4).toString('hex')}`;
    const created = await kubeRequest<EventObject>(opts.kubeConfig, {
      method: 'POST',
      path: namespacedPath('v1', 'events', namespace),
      timeoutMs: 10_000,
      ...(signal ? { signal } : {}),
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: md.name,
          namespace: md.namespace,
          uid: md.uid,
          resourceVersion: md.resourceVersion,
        },
        type,
        reason,
        message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message,
        source: { component: opts.component },
        reportingComponent: opts.component,
        reportingInstance: instance,
        firstTimestamp: stamp,
        lastTimestamp: stamp,
        count: 1,
      },
    });
    remember(key, { namespace, name: created.metadata.name, count: 1, lastAt: at.getTime() });
  };

  return {
    event(obj, type, reason, message, signal) {
      if (type === 'Normal' && droppable.has(reason) && routine.take('routine') > 0) {
        opts.onDropped?.(reason);
        return Promise.resolve();
      }
      const md = obj.metadata ?? {};
      const key = [md.uid ?? `${md.namespace}/${md.name}`, type, reason, message].join('\u0000');
      const prior = chains.get(key) ?? Promise.resolve();
      const next = prior
        .then(() => record(key, obj, type, reason, message, signal))
        .catch((err: unknown) => {
          log.warn(
            {
              err: err instanceof Error ? err.message : String(err),
              object: `${md.namespace}/${md.name}`,
              kind: obj.kind,
              reason,
            },
            'could not record event',
          );
        });
      chains.set(key, next);
      void next.finally(() => {
        if (chains.get(key) === next) chains.delete(key);
      });
      return next;
    },
  };
}
