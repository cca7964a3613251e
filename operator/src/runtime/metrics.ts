// Controller metrics. Several controllers share one Registry, so the metrics are created once
// per registry and labelled by controller; the queue depth is read when scraped.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ControllerMetrics {
  reconciles: Counter<'controller' | 'result'>;
  duration: Histogram<'controller'>;
  watchErrors: Counter<'controller' | 'path'>;
  /** Registers the queue depth of one controller; returns the unregister function. */
  trackDepth(controller: string, depth: () => number): () => void;
}

const perRegistry = new WeakMap<Registry, ControllerMetrics>();

function create(registry: Registry | undefined): ControllerMetrics {
  const registers = registry ? [registry] : [];
  const depths = new Map<string, () => number>();
  new Gauge({
    name: 'oneclaw_operator_workqueue_depth',
    help: 'Keys waiting in the work queue of a controller (not counting delayed or in-flight keys).',
    labelNames: ['controller'],
    registers,
    collect() {
      this.reset();
      for (const [controller, depth] of depths) this.set({ controller }, depth());
    },
  });
  return {
    reconciles: new Counter({
      name: 'oneclaw_operator_reconcile_total',
      help: 'Reconciles by controller and result (success, error, terminal).',
      labelNames: ['controller', 'result'],
      registers,
    }),
    duration: new Histogram({
      name: 'oneclaw_operator_reconcile_duration_seconds',
      help: 'Duration of reconciles by controller.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    watchErrors: new Counter({
      name: 'oneclaw_operator_watch_errors_total',
      help: 'List or watch failures (each followed by a reconnect with backoff), by controller and path.',
      labelNames: ['controller', 'path'],
      registers,
    }),
    trackDepth(controller, depth) {
      depths.set(controller, depth);
      return () => {
        if (depths.get(controller) === depth) depths.delete(controller);
      };
    },
  };
}

export function controllerMetrics(registry?: Registry): ControllerMetrics {
  if (!registry) return create(undefined);
  let m = perRegistry.get(registry);
  if (!m) {
    m = create(registry);
    perRegistry.set(registry, m);
  }
  return m;
}

const restartCounters = new WeakMap<Registry, Counter<'namespace' | 'reason'>>();

/**
 * Rollout restarts the operator made, by namespace and reason (secret_changed: a workload
 * restarted because a Secret it uses changed; failed: an attempt that failed). Once per
 * registry: controllers are made anew each leadership term.
 */
export function rolloutRestartsMetric(registry: Registry): Counter<'namespace' | 'reason'> {
  let counter = restartCounters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: 'oneclaw_operator_rollout_restarts_total',
      help: 'Rollout restarts of workloads using a synced Secret, by namespace and reason (secret_changed, failed).',
      labelNames: ['namespace', 'reason'],
      registers: [registry],
    });
    restartCounters.set(registry, counter);
  }
  return counter;
}

/** Normal Events not written because of the recorder's rate limit, by reason. */
export function droppedEventsMetric(registry: Registry): Counter<'reason'> {
  return new Counter({
    name: 'oneclaw_operator_events_dropped_total',
    help: 'Normal Events dropped by the rate limit on Events (Warnings are never dropped), by reason.',
    labelNames: ['reason'],
    registers: [registry],
  });
}
