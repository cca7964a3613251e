// Unwrapped KEKs in memory: bounded in size and age, keyed by a digest of the exact wrapped
// blob and its context, so a hit can only ever return what unwrapping that blob would. Misses
// for the same entry that arrive together share one KMS call. Evicted keys are overwritten.
//
// Callers use the returned Buffer synchronously and never keep or wipe it: it belongs to the
// cache and is zeroed when evicted.
import { createHash } from 'node:crypto';
import type { KmsMetrics } from './metrics.js';

export interface KekCacheOptions {
  maxEntries: number;
  ttlMs: number;
  metrics?: KmsMetrics;
  now?: () => number;
}

interface Entry {
  key: Buffer;
  expiresAt: number;
  /** Digest of the wrapped blob alone, for `forget`. */
  blob: string;
}

export interface KekCache {
  get(wrapped: Buffer, contextId: string, load: () => Promise<Buffer>): Promise<Buffer>;
  /** Drops and wipes every entry made from this wrapped blob (a purged vault's KEKs). */
  forget(wrapped: Buffer): void;
  /** Drops and wipes every entry. */
  clear(): void;
  size(): number;
}

export function createKekCache(opts: KekCacheOptions): KekCache {
  const now = opts.now ?? Date.now;
  // Map iteration order is insertion order: re-inserting on hit makes it an LRU.
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Buffer>>();

  const blobIds = new Map<string, Set<string>>();
  const blobKey = (wrapped: Buffer) => createHash('sha256').update(wrapped).digest('base64');

  const evict = (id: string) => {
    const e = entries.get(id);
    if (e) {
      e.key.fill(0);
      entries.delete(id);
      const ids = blobIds.get(e.blob);
      ids?.delete(id);
      if (ids?.size === 0) blobIds.delete(e.blob);
    }
  };

  return {
    async get(wrapped, contextId, load) {
      const id = createHash('sha256').update(contextId).update('\0').update(wrapped).digest('base64');
      const hit = entries.get(id);
      if (hit && hit.expiresAt > now()) {
        entries.delete(id);
        entries.set(id, hit);
        opts.metrics?.cache.inc({ result: 'hit' });
        return hit.key;
      }
      if (hit) evict(id);
      const pending = inflight.get(id);
      if (pending) {
        opts.metrics?.cache.inc({ result: 'coalesced' });
        return pending;
      }
      opts.metrics?.cache.inc({ result: 'miss' });
      const p = load()
        .then((key) => {
          const blob = blobKey(wrapped);
          entries.set(id, { key, expiresAt: now() + opts.ttlMs, blob });
          blobIds.set(blob, (blobIds.get(blob) ?? new Set()).add(id));
          while (entries.size > opts.maxEntries) {
            const oldest = entries.keys().next().value as string;
            evict(oldest);
          }
          return key;
        })
        .finally(() => inflight.delete(id));
      inflight.set(id, p);
      return p;
    },
    forget(wrapped) {
      for (const id of [...(blobIds.get(blobKey(wrapped)) ?? [])]) evict(id);
    },
    clear() {
      for (const id of [...entries.keys()]) evict(id);
    },
    size: () => entries.size,
  };
}
