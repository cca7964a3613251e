// The reconcile loop. Watches fill informer caches and turn every event into keys on one
// deduplicating queue; workers take keys and call the reconciler with the key only — it re-reads
// what it needs (from the cache or the API) and converges, so a missed, repeated or reordered
// event cannot make it act on stale data (STYLE habit 1). The outcome decides what happens to the
// key: success forgets its backoff; requeueAfterMs schedules it; a thrown error retries it with
// backoff; a TerminalError (a spec the user must fix) is logged and left until the object changes.
// Every reconcile gets the controller's AbortSignal, which stop() fires (shutdown, leadership
// lost): the requests a reconcile makes carry it, so a controller that stopped writes nothing more.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { jittered, TEN_PERCENT_JITTER } from '../../../common/src/backoff.js';
import { createInformer, type Informer } from './informer.js';
import { controllerMetrics } from './metrics.js';
import { createWorkQueue, type WorkQueue, type WorkQueueOptions } from './queue.js';

export interface ObjectKey {
  namespace: string;
  name: string;
}

export const keyOf = (k: ObjectKey): string => `${k.namespace}/${k.name}`;

/** Inverse of keyOf; a key without a slash is a cluster-scoped name (namespace ''). */
export const parseKey = (s: string): ObjectKey => {
  const i = s.indexOf('/');
  return i < 0 ? { namespace: '', name: s } : { namespace: s.slice(0, i), name: s.slice(i + 1) };
};

export interface ReconcileResult {
  /** Reconcile this key again after this long (also resets its error backoff). */
  requeueAfterMs?: number;
}

/** A failure retrying cannot fix (invalid spec): logged at warn, not retried until the object changes. */
export class TerminalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export interface ReconcileContext {
  /** Child logger carrying {controller, key, reconcileId}. */
  log: Logger;
  reconcileId: string;
  /** Fires when the controller stops; pass it to every request the reconcile makes. */
  signal: AbortSignal;
}

const reconcileSignals = new AsyncLocalStorage<AbortSignal>();

/**
 * The signal of the reconcile the caller runs in (undefined outside one): for clients whose
 * calls take no signal of their own, such as the oneclaw SDK, through their fetch.
 */
export const currentReconcileSignal = (): AbortSignal | undefined => reconcileSignals.getStore();

export interface Reconciler {
  reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | undefined>;
}

export interface Watch<T extends KubernetesObject = KubernetesObject> {
  /**
   * Collection path watched across all namespaces, e.g. '/apis/oneclaw.dev/v1alpha1/secretsyncs'
   * or '/api/v1/secrets'. A namespaced path ('/api/v1/namespaces/x/configmaps') also works.
   */
  path: string;
  /**
   * Optional. When omitted (recommended) the runtime lists `path` itself, paged, with
   * `labelSelector`. A function given here, e.g.
   * `() => customApi.listClusterCustomObject({group, version, plural, labelSelector})`, must apply
   * the same label selector, or objects the watch never reports would sit in the cache.
   */
  list?(): Promise<KubernetesListObject<T>>;
  /** Limits list, watch and cache to what the operator manages (memory must not grow with unrelated objects). */
  labelSelector?: string;
  /** Which reconcile keys an event on this object enqueues (the primary kind: its own key; a child: its owner's). */
  keysFor(obj: T): ObjectKey[];
  /**
   * Optional filter for updates (adds, deletes and resyncs always enqueue). Use
   * `generationChanged` on a primary kind whose reconcile writes status, so the status write
   * does not trigger another reconcile.
   */
  shouldEnqueueUpdate?(oldObj: T, newObj: T): boolean;
}

/** Keys of the object itself, for a watch on the primary kind. */
export const ownKey = (obj: KubernetesObject): ObjectKey[] => [
  { namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' },
];

/** Keys of the owners of `kind` (and optionally `apiVersion`) named in the object's ownerReferences. */
export const ownerKeys =
  (kind: string, apiVersion?: string) =>
  (obj: KubernetesObject): ObjectKey[] =>
    (obj.metadata?.ownerReferences ?? [])
      .filter((r) => r.kind === kind && (apiVersion === undefined || r.apiVersion === apiVersion))
      .map((r) => ({ namespace: obj.metadata?.namespace ?? '', name: r.name }));

const json = (v: unknown) => JSON.stringify(v ?? null);

/**
 * Update filter: true when the spec (generation), labels, annotations, finalizers, owner
 * references or deletion timestamp changed — false for status-only writes. Objects without a
 * generation (Secrets, ConfigMaps) always pass.
 */
export function generationChanged(oldObj: KubernetesObject, newObj: KubernetesObject): boolean {
  const o = oldObj.metadata ?? {};
  const n = newObj.metadata ?? {};
  if (o.generation === undefined || n.generation === undefined || o.generation !== n.generation) return true;
  return (
    json(o.labels) !== json(n.labels) ||
    json(o.annotations) !== json(n.annotations) ||
    json(o.finalizers) !== json(n.finalizers) ||
    json(o.ownerReferences) !== json(n.ownerReferences) ||
    json(o.deletionTimestamp) !== json(n.deletionTimestamp)
  );
}

export interface ObjectCache<T extends KubernetesObject> {
  get(namespace: string, name: string): T | undefined;
  /** All cached objects of one namespace, or of all namespaces. */
  list(namespace?: string): T[];
}

export interface Controller {
  /** Starts the informers, waits for their first list, then starts the workers. */
  start(): Promise<void>;
  /**
   * Stops handing out keys, fires the reconciles' signal, waits for in-flight reconciles (up to
   * stopTimeoutMs), stops watches.
   */
  stop(): Promise<void>;
  /** Enqueues a key from outside the watches (e.g. a change feed), now or after afterMs. */
  enqueue(key: ObjectKey, afterMs?: number): void;
  /** The informer cache of watch i (index in `watches`). Objects are read-only apiserver JSON. */
  cache<T extends KubernetesObject>(watchIndex: number): ObjectCache<T>;
  /** True once every watch has completed its first list (for a readiness probe). */
  hasSynced(): boolean;
}

export interface ControllerOptions {
  name: string;
  kubeConfig: KubeConfig;
  logger: Logger;
  reconciler: Reconciler;
  watches: Watch[];
  /** Workers reconciling different keys in parallel. Default 4. */
  concurrency?: number;
  /** Every key in every cache is enqueued again this often (jittered ±10%). Default 10 min; 0 disables. */
  resyncMs?: number;
  queue?: WorkQueueOptions;
  metrics?: Registry;
  /**
   * How long stop() waits for in-flight reconciles after firing their signal. Default 5 s: a
   * leader that lost its Lease must be done before another replica may take over.
   */
  stopTimeoutMs?: number;
  /** Reconnect backoff of the watches. Defaults 250 ms doubling to 8 s. */
  watchRetryBaseMs?: number;
  watchRetryMaxMs?: number;
}

export function createController(opts: ControllerOptions): Controller {
  const name = opts.name;
  const concurrency = opts.concurrency ?? 4;
  const resyncMs = opts.resyncMs ?? 10 * 60_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
  const abort = new AbortController();
  const log = opts.logger.child({ controller: name });
  const metrics = controllerMetrics(opts.metrics);
  const queue: WorkQueue = createWorkQueue(opts.queue);
  let state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  let workers: Promise<void>[] = [];
  let resyncTimer: NodeJS.Timeout | undefined;
  let untrackDepth: (() => void) | undefined;
  const stopped = () => state === 'stopped'; // a function: TS would narrow `state` across the awaits

  /** Enqueues the keys of an event (old: the cached object an update replaces; none on adds, deletes, resyncs). */
  const enqueueFor = (w: Watch, obj: KubernetesObject, old?: KubernetesObject) => {
    try {
      if (old && w.shouldEnqueueUpdate && !w.shouldEnqueueUpdate(old, obj)) return;
      for (const k of w.keysFor(obj)) queue.add(keyOf(k));
    } catch (err) {
      // A throwing keysFor or filter must not break the watch that called it.
      const object = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
      log.error({ err, path: w.path, object }, 'keysFor or shouldEnqueueUpdate threw');
    }
  };

  const informers: Informer<KubernetesObject>[] = opts.watches.map((w) =>
    createInformer<KubernetesObject>({
      kubeConfig: opts.kubeConfig,
      path: w.path,
      labelSelector: w.labelSelector,
      list: w.list ? () => (w.list as NonNullable<Watch['list']>).call(w) : undefined,
      logger: log,
      retryBaseMs: opts.watchRetryBaseMs,
      retryMaxMs: opts.watchRetryMaxMs,
      onError: () => metrics.watchErrors.inc({ controller: name, path: w.path }),
      onEvent(type, obj, old) {
        enqueueFor(w, obj, type === 'update' ? old : undefined);
      },
    }),
  );

  const scheduleResync = () => {
    if (!(resyncMs > 0) || state !== 'running') return;
    resyncTimer = setTimeout(
      () => {
        log.debug('periodic resync');
        opts.watches.forEach((w, i) => {
          for (const obj of informers[i]?.list() ?? []) enqueueFor(w, obj);
        });
        scheduleResync();
      },
      jittered(resyncMs, TEN_PERCENT_JITTER),
    );
    resyncTimer.unref();
  };

  const processKey = async (key: string) => {
    const reconcileId = randomUUID();
    const rlog = log.child({ key, reconcileId });
    const endTimer = metrics.duration.startTimer({ controller: name });
    let result: 'success' | 'error' | 'terminal';
    try {
      const { signal } = abort;
      const res = await reconcileSignals.run(signal, () =>
        opts.reconciler.reconcile(parseKey(key), { log: rlog, reconcileId, signal }),
      );
      queue.forget(key);
      if (res?.requeueAfterMs !== undefined) queue.addAfter(key, res.requeueAfterMs);
      result = 'success';
    } catch (err) {
      if (err instanceof TerminalError) {
        rlog.warn({ err }, 'reconcile failed permanently; waiting for the object to change');
        queue.forget(key);
        result = 'terminal';
      } else if (abort.signal.aborted) {
        rlog.info({ err: (err as Error).message }, 'reconcile cancelled: the controller is stopping');
        result = 'error';
      } else {
        queue.addRateLimited(key);
        rlog.error({ err, failures: queue.numRequeues(key) }, 'reconcile failed; retrying with backoff');
        result = 'error';
      }
    } finally {
      queue.done(key);
      endTimer();
    }
    metrics.reconciles.inc({ controller: name, result });
  };

  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      await processKey(key);
    }
  };

  return {
    async start() {
      if (state !== 'new') throw new Error(`controller ${name} cannot be started twice`);
      state = 'starting';
      untrackDepth = metrics.trackDepth(name, () => queue.len());
      try {
        await Promise.all(informers.map((i) => i.start()));
      } catch (err) {
        if (stopped()) return; // stop() was called while the caches filled
        throw err;
      }
      if (stopped()) return;
      state = 'running';
      workers = Array.from({ length: concurrency }, () => worker());
      scheduleResync();
      log.info({ watches: opts.watches.length, concurrency }, 'controller started');
    },
    async stop() {
      if (state === 'stopped') return;
      state = 'stopped';
      if (resyncTimer) clearTimeout(resyncTimer);
      queue.shutDown();
      abort.abort();
      let timer: NodeJS.Timeout | undefined;
      const inFlight = Promise.all(workers).then(() => true);
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), stopTimeoutMs);
      });
      const drained = await Promise.race([inFlight, timedOut]);
      clearTimeout(timer);
      if (!drained) log.warn({ stopTimeoutMs }, 'stopping with reconciles still in flight');
      await Promise.all(informers.map((i) => i.stop().catch(() => {})));
      untrackDepth?.();
      log.info('controller stopped');
    },
    enqueue(key, afterMs) {
      if (afterMs !== undefined && afterMs > 0) queue.addAfter(keyOf(key), afterMs);
      else queue.add(keyOf(key));
    },
    cache<T extends KubernetesObject>(watchIndex: number): ObjectCache<T> {
      const informer = informers[watchIndex];
      if (!informer) throw new Error(`controller ${name} has no watch ${watchIndex}`);
      return {
        get: (namespace, name) => informer.get(namespace, name) as T | undefined,
        list: (namespace) => informer.list(namespace) as T[],
      };
    },
    hasSynced: () => informers.every((i) => i.hasSynced()),
  };
}
