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
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { jittered, TEN_PERCENT_JITTER } from '../../../common/src/backoff.js';
import {
  createInformerCache,
  type InformerCache,
  type ObjectCache,
  type ResourceKind,
} from './informer-cache.js';
import { generationChanged, keyOf, type ObjectKey, ownerKeys, ownKey, parseKey } from './keys.js';
import { controllerMetrics } from './metrics.js';
import { createWorkQueue, type WorkQueue, type WorkQueueOptions } from './queue.js';

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

/**
 * What a controller watches, declared beside its reconciler (kubebuilder's For / Owns /
 * Watches). Each kind's informer is shared with every other controller watching it.
 */
export interface Watches {
  /**
   * The primary kind: each object enqueues its own key. Updates pass `shouldEnqueueUpdate`
   * (default generationChanged, so the reconcile's own status writes do not trigger another).
   */
  for: ResourceKind & { shouldEnqueueUpdate?(oldObj: KubernetesObject, newObj: KubernetesObject): boolean };
  /** Children: each object enqueues the key of its owner of the primary kind (ownerReferences). */
  owns?: ResourceKind[];
  /** Other kinds: each object enqueues the keys `map` names. */
  watches?: Array<{ kind: ResourceKind; map(obj: KubernetesObject): ObjectKey[] }>;
}

/** One watched kind as the loop uses it: which keys an event enqueues, and which updates count. */
interface Source {
  kind: ResourceKind;
  keysFor(obj: KubernetesObject): ObjectKey[];
  shouldEnqueueUpdate?(oldObj: KubernetesObject, newObj: KubernetesObject): boolean;
}

function sourcesOf(w: Watches): Source[] {
  const { shouldEnqueueUpdate = generationChanged, ...primary } = w.for;
  return [
    { kind: primary, keysFor: ownKey, shouldEnqueueUpdate },
    ...(w.owns ?? []).map((kind) => ({ kind, keysFor: ownerKeys(primary.kind, primary.apiVersion) })),
    ...(w.watches ?? []).map(({ kind, map }) => ({ kind, keysFor: map })),
  ];
}

export interface Controller {
  /** Starts the informers (shared ones once), waits for their first list, then starts the workers. */
  start(): Promise<void>;
  /**
   * Stops handing out keys, fires the reconciles' signal, waits for in-flight reconciles (up to
   * stopTimeoutMs), leaves its informers (and stops them when they are its own, not shared).
   */
  stop(): Promise<void>;
  /** Enqueues a key from outside the watches (e.g. a change feed), now or after afterMs. */
  enqueue(key: ObjectKey, afterMs?: number): void;
  /** The cached objects of a kind. Objects are read-only apiserver JSON. */
  cache<T extends KubernetesObject>(kind: ResourceKind<T>): ObjectCache<T>;
  /** True once every watched kind has completed its first list (for a readiness probe). */
  hasSynced(): boolean;
}

export interface ControllerOptions {
  name: string;
  logger: Logger;
  reconciler: Reconciler;
  watches: Watches;
  /** The informers shared with other controllers; stopping the controller leaves them running. */
  cache?: InformerCache;
  /** For a controller with informers of its own (no `cache`), which it starts and stops. */
  kubeConfig?: KubeConfig;
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
  /** Reconnect backoff of the watches of a controller's own informers. Defaults 250 ms doubling to 8 s. */
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

  const sources = sourcesOf(opts.watches);
  const ownCache = !opts.cache;
  if (ownCache && !opts.kubeConfig) throw new Error(`controller ${name} needs a cache or a kubeConfig`);
  const cache =
    opts.cache ??
    createInformerCache({
      kubeConfig: opts.kubeConfig as KubeConfig,
      logger: log,
      retryBaseMs: opts.watchRetryBaseMs,
      retryMaxMs: opts.watchRetryMaxMs,
      onError: (path) => metrics.watchErrors.inc({ controller: name, path }),
    });

  /** Enqueues the keys of an event (old: the cached object an update replaces; none on adds, deletes, resyncs). */
  const enqueueFor = (w: Source, obj: KubernetesObject, old?: KubernetesObject) => {
    try {
      if (old && w.shouldEnqueueUpdate && !w.shouldEnqueueUpdate(old, obj)) return;
      for (const k of w.keysFor(obj)) queue.add(keyOf(k));
    } catch (err) {
      // A throwing keysFor or filter must not break the watch that called it.
      const object = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
      log.error({ err, kind: w.kind.kind, object }, 'keysFor or shouldEnqueueUpdate threw');
    }
  };

  // Events before start() (a shared informer already running) and after stop() are ignored.
  const unsubscribes = sources.map((w) =>
    cache.subscribe(w.kind, (type, obj, old) => {
      if (state === 'running' || state === 'starting')
        enqueueFor(w, obj, type === 'update' ? old : undefined);
    }),
  );

  const scheduleResync = () => {
    if (!(resyncMs > 0) || state !== 'running') return;
    resyncTimer = setTimeout(
      () => {
        log.debug('periodic resync');
        for (const w of sources) for (const obj of cache.objects(w.kind).list()) enqueueFor(w, obj);
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
        await cache.start();
      } catch (err) {
        if (stopped()) return; // stop() was called while the caches filled
        throw err;
      }
      if (stopped()) return;
      state = 'running';
      workers = Array.from({ length: concurrency }, () => worker());
      scheduleResync();
      // What a shared informer listed before this controller subscribed is enqueued now.
      for (const w of sources) for (const obj of cache.objects(w.kind).list()) enqueueFor(w, obj);
      log.info({ watches: sources.length, concurrency }, 'controller started');
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
      for (const unsubscribe of unsubscribes) unsubscribe();
      if (ownCache) await cache.stop();
      untrackDepth?.();
      log.info('controller stopped');
    },
    enqueue(key, afterMs) {
      if (afterMs !== undefined && afterMs > 0) queue.addAfter(keyOf(key), afterMs);
      else queue.add(keyOf(key));
    },
    cache: (kind) => cache.objects(kind),
    hasSynced: () => cache.hasSynced(),
  };
}
