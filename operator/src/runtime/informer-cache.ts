// The informers of one process, shared: controller-runtime's cache. One informer per kind (and
// label selector), however many controllers watch it, so a OneclawVault read by two controllers
// is listed, watched and held in memory once. Caches are looked up by kind, with the object type
// carried by the kind descriptor.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { createInformer, type Informer, type InformerEventType } from './informer.js';
import { apiPrefix } from './kube-request.js';

/** A kind the operator watches; `T` is the type of its objects in the cache. */
export interface ResourceKind<T extends KubernetesObject = KubernetesObject> {
  apiVersion: string;
  kind: string;
  plural: string;
  /** Limits list, watch and cache to what the operator manages (memory must not grow with unrelated objects). */
  labelSelector?: string;
  /** Never set: carries the object type to `objects()`. */
  readonly __type?: T;
}

export interface ObjectCache<T extends KubernetesObject> {
  get(namespace: string, name: string): T | undefined;
  /** All cached objects of one namespace, or of all namespaces. */
  list(namespace?: string): T[];
}

export type InformerHandler = (
  type: InformerEventType,
  obj: KubernetesObject,
  old: KubernetesObject | undefined,
) => void;

export interface InformerCache {
  /** The cached objects of a kind; its informer is made on first use. */
  objects<T extends KubernetesObject>(kind: ResourceKind<T>): ObjectCache<T>;
  /** Calls `handler` on every add, update and delete of the kind; returns the unsubscribe function. */
  subscribe(kind: ResourceKind, handler: InformerHandler): () => void;
  /** Starts every informer made so far (and later ones as they are made); resolves once each has listed. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True once every informer has completed its first list (for a readiness probe). */
  hasSynced(): boolean;
}

export interface InformerCacheOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Only this namespace's objects (a namespaced install); undefined: every namespace. */
  namespace?: string;
  /** Reconnect backoff of the watches. Defaults 250 ms doubling to 8 s. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Called on every list or watch failure, with the collection path. */
  onError?: (path: string) => void;
}

export const kindKey = (k: ResourceKind): string =>
  `${k.apiVersion}/${k.kind}${k.labelSelector ? `?${k.labelSelector}` : ''}`;

export function createInformerCache(opts: InformerCacheOptions): InformerCache {
  interface Entry {
    informer: Informer<KubernetesObject>;
    handlers: Set<InformerHandler>;
    synced?: Promise<void>;
  }
  const entries = new Map<string, Entry>();
  let started = false;
  // Several controllers start the cache they share: each informer starts once.
  const startOne = (e: Entry) => {
    e.synced ??= e.informer.start();
    return e.synced;
  };

  const pathOf = (k: ResourceKind) =>
    opts.namespace
      ? `${apiPrefix(k.apiVersion)}/namespaces/${opts.namespace}/${k.plural}`
      : `${apiPrefix(k.apiVersion)}/${k.plural}`;

  const entry = (k: ResourceKind): Entry => {
    const key = kindKey(k);
    let e = entries.get(key);
    if (!e) {
      const handlers = new Set<InformerHandler>();
      const path = pathOf(k);
      const informer = createInformer<KubernetesObject>({
        kubeConfig: opts.kubeConfig,
        path,
        labelSelector: k.labelSelector,
        logger: opts.logger,
        retryBaseMs: opts.retryBaseMs,
        retryMaxMs: opts.retryMaxMs,
        onError: () => opts.onError?.(path),
        onEvent(type, obj, old) {
          for (const h of handlers) h(type, obj, old);
        },
      });
      e = { informer, handlers };
      entries.set(key, e);
      if (started) void startOne(e).catch(() => {});
    }
    return e;
  };

  return {
    objects<T extends KubernetesObject>(kind: ResourceKind<T>): ObjectCache<T> {
      const { informer } = entry(kind);
      return {
        get: (namespace, name) => informer.get(namespace, name) as T | undefined,
        list: (namespace) => informer.list(namespace) as T[],
      };
    },
    subscribe(kind, handler) {
      const { handlers } = entry(kind);
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async start() {
      started = true;
      await Promise.all([...entries.values()].map(startOne));
    },
    async stop() {
      await Promise.all([...entries.values()].map((e) => e.informer.stop().catch(() => {})));
    },
    hasSynced: () => [...entries.values()].every((e) => e.informer.hasSynced()),
  };
}
