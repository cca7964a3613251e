// The controllers of one process over one shared informer cache (controller-runtime's manager),
// and the leadership terms that run them: only the leader reconciles, and each term gets fresh
// controllers, since a stopped controller cannot start again.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type Controller, createController, type Reconciler, type Watches } from './controller.js';
import { createInformerCache, type InformerCache } from './informer-cache.js';
import type { ObjectKey } from './keys.js';
import { createLeaderElector, type LeaderElectorOptions } from './leader.js';
import { controllerMetrics } from './metrics.js';

/** A controller as it declares itself: what it watches beside what reconciles it. */
export interface ControllerSpec {
  name: string;
  watches: Watches;
  reconciler: Reconciler;
  /** Stops what the controller runs besides its reconciles (change-feed followers, timers). */
  stop?(): void | Promise<void>;
}

export interface ControllerSetup {
  /** The informers every controller of the manager shares. */
  cache: InformerCache;
  /** Enqueues a key on this controller's queue from outside its watches (e.g. a change feed). */
  enqueue(key: ObjectKey, afterMs?: number): void;
}

export type ControllerFactory = (setup: ControllerSetup) => ControllerSpec;

export interface Manager {
  /** Starts the shared informers and every controller; resolves once all run. */
  start(): Promise<void>;
  /** Stops the controllers (firing their reconciles' signal), what they run, then the informers. */
  stop(): Promise<void>;
  hasSynced(): boolean;
}

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  controllers: ControllerFactory[];
  metrics?: Registry;
  /** Only this namespace's objects (a namespaced install); undefined: every namespace. */
  namespace?: string;
  concurrency?: number;
  resyncMs?: number;
  stopTimeoutMs?: number;
}

export function createManager(opts: ManagerOptions): Manager {
  const metrics = controllerMetrics(opts.metrics);
  const cache = createInformerCache({
    kubeConfig: opts.kubeConfig,
    logger: opts.logger.child({ component: 'cache' }),
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    onError: (path) => metrics.watchErrors.inc({ controller: 'cache', path }),
  });
  const specs: ControllerSpec[] = [];
  const controllers: Controller[] = opts.controllers.map((factory) => {
    let controller: Controller | undefined;
    const spec = factory({ cache, enqueue: (key, afterMs) => controller?.enqueue(key, afterMs) });
    specs.push(spec);
    controller = createController({
      name: spec.name,
      logger: opts.logger,
      cache,
      watches: spec.watches,
      reconciler: spec.reconciler,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
      ...(opts.stopTimeoutMs !== undefined ? { stopTimeoutMs: opts.stopTimeoutMs } : {}),
    });
    return controller;
  });
  return {
    async start() {
      await Promise.all(controllers.map((c) => c.start()));
      opts.logger.info('controllers started');
    },
    async stop() {
      await Promise.all(controllers.map((c) => c.stop()));
      for (const spec of specs) await spec.stop?.();
      await cache.stop();
    },
    hasSynced: () => controllers.every((c) => c.hasSynced()),
  };
}

export interface Leadership {
  isLeader(): boolean;
  /** Why this replica cannot serve as it should: nothing on a standby. */
  problems(): string[];
  stop(): Promise<void>;
}

/**
 * Runs `newManager()`'s controllers while this replica leads the Lease (or, with `election`
 * undefined, from now on), and stops them when leadership ends.
 */
export async function runWhileLeading(opts: {
  logger: Logger;
  newManager: () => Manager;
  election?: Omit<LeaderElectorOptions, 'onStartedLeading' | 'onStoppedLeading' | 'logger'>;
}): Promise<Leadership> {
  let term: { manager: Manager; starting: Promise<void>; failed: boolean } | undefined;
  const lead = () => {
    const manager = opts.newManager();
    const t = { manager, failed: false, starting: Promise.resolve() };
    t.starting = manager.start().catch((err: unknown) => {
      t.failed = true;
      opts.logger.error({ err: { message: (err as Error).message } }, 'controllers failed to start');
    });
    term = t;
  };
  const unlead = async () => {
    const t = term;
    term = undefined;
    if (!t) return;
    await t.manager.stop();
    await t.starting;
  };
  const elector = opts.election
    ? createLeaderElector({
        ...opts.election,
        logger: opts.logger,
        onStartedLeading: lead,
        onStoppedLeading: unlead,
      })
    : undefined;
  if (elector) {
    elector.start();
  } else {
    lead();
    await term?.starting;
  }
  const isLeader = () => (elector ? elector.isLeader() : true);
  return {
    isLeader,
    problems() {
      if (!isLeader()) return [];
      if (term?.failed) return ['controllers failed to start'];
      if (!term?.manager.hasSynced()) return ['informer caches not synced'];
      return [];
    },
    async stop() {
      if (elector) await elector.stop();
      await unlead();
    },
  };
}
