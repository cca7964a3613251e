// A list-then-watch cache of one resource, the runtime's equivalent of client-go's reflector +
// store. client-node's makeInformer stops for good on the first watch error and has no watch
// timeout, so an apiserver restart or a silently dropped connection would leave the controller
// blind; this one keeps going:
//   - it lists (paged, with the label selector) and then watches from the list's
//     resourceVersion with bookmarks and a server-side timeout of 5-10 minutes, re-watching
//     from the last seen resourceVersion whenever a watch ends;
//   - on any error it retries with jittered exponential backoff, and on 410 Gone (the
//     resourceVersion is too old) it lists again at once, diffing the new list against the cache
//     so objects deleted while it was not watching produce delete events;
//   - a watch connection idle for longer than the server timeout is treated as dead.
// Objects in the cache are the apiserver's JSON (timestamps are strings), with apiVersion and
// kind filled in for list items, less metadata.managedFields (often the larger part of a small
// object, and read by nothing here). Treat them as read-only; clone before modifying.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { backoffDelay, TEN_PERCENT_JITTER } from '../../../common/src/backoff.js';
import { kubeRequest, kubeWatch, statusCodeOf } from './kube-request.js';

export type InformerEventType = 'add' | 'update' | 'delete';

export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Collection path, e.g. `/api/v1/configmaps` (all namespaces) or `/api/v1/namespaces/x/configmaps`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Lists the collection. When omitted the informer lists `path` itself with the selectors
   * (recommended). A function given here must apply the same selectors, or objects the watch
   * would never report enter the cache.
   */
  list?: () => Promise<KubernetesListObject<T>>;
  logger: Logger;
  onEvent: (type: InformerEventType, obj: T, old: T | undefined) => void;
  /** Called after every completed (re)list. */
  onSynced?: () => void;
  /** Called on every list or watch failure, before the backoff. */
  onError?: (err: unknown) => void;
  /** Backoff of reconnects after errors. Defaults: 250 ms doubling to 8 s. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Server-side watch timeout range in seconds. Default 300-600. */
  watchTimeoutSeconds?: [number, number];
  /** Page size of the informer's own list. Default 500. */
  pageSize?: number;
}

export interface Informer<T extends KubernetesObject> {
  /** Starts listing and watching; resolves once the first list is in the cache (rejects if stopped before). */
  start(): Promise<void>;
  stop(): Promise<void>;
  hasSynced(): boolean;
  get(namespace: string, name: string): T | undefined;
  /** Objects of one namespace, or of all namespaces when omitted. */
  list(namespace?: string): T[];
  /** The resourceVersion the next watch starts from ('' when the next step is a list). */
  resourceVersion(): string;
}

/** A list page as the apiserver sends it (the generated V1ListMeta calls `continue` `_continue`). */
interface ListPage<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

export function createInformer<T extends KubernetesObject>(opts: InformerOptions<T>): Informer<T> {
  const log = opts.logger;
  const retryBaseMs = opts.retryBaseMs ?? 250;
  const retryMaxMs = opts.retryMaxMs ?? 8_000;
  const [minTimeout, maxTimeout] = opts.watchTimeoutSeconds ?? [300, 600];
  const pageSize = opts.pageSize ?? 500;

  const objects = new Map<string, Map<string, T>>(); // namespace ('' if cluster-scoped) → name → object
  let rv = '';
  let synced = false;
  let stopped = false;
  let running: Promise<void> | undefined;
  const abort = new AbortController();
  let resolveSynced: (() => void) | undefined;
  let rejectSynced: ((err: Error) => void) | undefined;

  const nsOf = (o: KubernetesObject) => o.metadata?.namespace ?? '';
  const nameOf = (o: KubernetesObject) => o.metadata?.name ?? '';

  const getObj = (ns: string, name: string) => objects.get(ns)?.get(name);

  const put = (obj: T) => {
    if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
    const ns = nsOf(obj);
    let m = objects.get(ns);
    if (!m) {
      m = new Map();
      objects.set(ns, m);
    }
    const old = m.get(nameOf(obj));
    m.set(nameOf(obj), obj);
    if (!old) opts.onEvent('add', obj, undefined);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
      opts.onEvent('update', obj, old);
  };

  const remove = (obj: T) => {
    const ns = nsOf(obj);
    const m = objects.get(ns);
    const old = m?.get(nameOf(obj));
    if (!m || !old) return;
    m.delete(nameOf(obj));
    if (m.size === 0) objects.delete(ns);
    opts.onEvent('delete', obj, old);
  };

  const listAll = async (): Promise<{ items: T[]; resourceVersion: string }> => {
    if (opts.list) {
      const l = await opts.list();
      return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
    }
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await kubeRequest<ListPage<T>>(opts.kubeConfig, {
        path: opts.path,
        query: {
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit: pageSize,
          continue: cont,
        },
        timeoutMs: 60_000,
        signal: abort.signal,
      });
      // Items of a list carry no apiVersion/kind; watch events do. Make the cache uniform.
      const kind = page.kind?.replace(/List$/, '');
      for (const item of page.items ?? []) {
        items.push(
          item.apiVersion && item.kind ? item : ({ apiVersion: page.apiVersion, kind, ...item } as T),
        );
      }
      cont = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    } while (cont);
    return { items, resourceVersion };
  };

  const relist = async () => {
    const { items, resourceVersion } = await listAll();
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(`${nsOf(item)}/${nameOf(item)}`);
      put(item);
    }
    for (const m of [...objects.values()]) {
      for (const obj of [...m.values()]) if (!seen.has(`${nsOf(obj)}/${nameOf(obj)}`)) remove(obj);
    }
    rv = resourceVersion;
    if (!synced) {
      synced = true;
      resolveSynced?.();
    }
    opts.onSynced?.();
  };

  const watchOnce = async (): Promise<number> => {
    let events = 0;
    const timeoutSeconds = Math.floor(minTimeout + Math.random() * (maxTimeout - minTimeout));
    await kubeWatch(
      opts.kubeConfig,
      {
        path: opts.path,
        query: {
          resourceVersion: rv,
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          allowWatchBookmarks: true,
          timeoutSeconds,
        },
        // Nothing at all (not even a bookmark) for longer than the server timeout: the peer is gone.
        timeoutMs: (timeoutSeconds + 30) * 1000,
        signal: abort.signal,
      },
      (ev) => {
        events++;
        const obj = ev.object as T;
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED') put(obj);
        else if (ev.type === 'DELETED') remove(obj);
        const next = obj.metadata?.resourceVersion;
        if (next) rv = next;
      },
    );
    return events;
  };

  const loop = async () => {
    let failures = 0;
    let gone = 0; // 410s since the last watch that worked
    while (!stopped) {
      try {
        if (!rv) await relist();
        const started = Date.now();
        const events = await watchOnce();
        // A watch the server ends at once and empty-handed counts as a failure, so a server
        // that keeps closing connections is not hammered in a tight loop.
        if (events === 0 && Date.now() - started < 1_000) throw new Error('watch ended immediately');
        failures = 0;
        gone = 0;
      } catch (err) {
        if (stopped) break;
        if (statusCodeOf(err) === 410) {
          log.info({ path: opts.path }, 'resourceVersion too old (410 Gone); relisting');
          rv = '';
          // The first 410 relists at once; a server answering 410 again and again gets the backoff.
          if (gone++ === 0) continue;
        }
        opts.onError?.(err);
        const delay = backoffDelay(failures++, {
          baseMs: retryBaseMs,
          maxMs: retryMaxMs,
          jitter: TEN_PERCENT_JITTER,
        });
        log.warn(
          {
            path: opts.path,
            err: err instanceof Error ? err.message : String(err),
            retryInMs: Math.round(delay),
          },
          'list/watch failed; retrying',
        );
        try {
          await sleep(delay, undefined, { signal: abort.signal });
        } catch {
          // aborted by stop()
        }
      }
    }
  };

  return {
    start() {
      if (running) throw new Error(`informer for ${opts.path} already started`);
      stopped = false;
      const syncedP = new Promise<void>((resolve, reject) => {
        resolveSynced = resolve;
        rejectSynced = reject;
      });
      running = loop();
      return syncedP;
    },
    async stop() {
      stopped = true;
      abort.abort();
      if (!synced) rejectSynced?.(new Error(`informer for ${opts.path} stopped before its first list`));
      await running;
    },
    hasSynced: () => synced,
    get: getObj,
    list(namespace) {
      if (namespace !== undefined) return [...(objects.get(namespace)?.values() ?? [])];
      return [...objects.values()].flatMap((m) => [...m.values()]);
    },
    resourceVersion: () => rv,
  };
}
