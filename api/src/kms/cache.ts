// Unwrapped KEKs in memory: bounded in size and age, keyed by a digest of the exact wrapped
// blob and its context, so a hit can only ever return what unwrapping that blob would. Misses
// for the same entry that arrive together share one KMS call. Every key that leaves the cache
// (evicted for room, expired, forgotten, cleared) is overwritten by the LRU's dispose hook.
//
// Every caller gets its own copy of the key and wipes it when done. Handing out the cached
// Buffer itself is unsafe: between a lookup and its use lies at least one await, and any other
// request's miss in that gap can evict the entry and zero the key under the first request.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
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
  /** The unwrapped key as a copy the caller owns (and wipes when done). */
  get(wrapped: Buffer, contextId: string, load: () => Promise<Buffer>): Promise<Buffer>;
  /** Drops and wipes every entry made from this wrapped blob (a purged vault's KEKs). */
  forget(wrapped: Buffer): void;
  /** Drops and wipes every entry. */
  clear(): void;
  size(): number;
}

export function createKekCache(opts: KekCacheOptions): KekCache {
  const now = opts.now ?? Date.now;
  const blobIds = new Map<string, Set<string>>();
  const blobKey = (wrapped: Buffer) => createHash('sha256').update(wrapped).digest('base64');
  // The expiry is checked here rather than by the LRU's own TTL: an entry lives while its age is
  // under ttlMs on the injected clock, which the LRU's clock (age above ttl, 0 meaning unset)
  // does not express.
  const entries = new LRUCache<string, Entry>({
    max: opts.maxEntries,
    dispose: (e, id, reason) => {
      e.key.fill(0);
      if (reason === 'set') return; // replaced under the same id, so made from the same blob
      const ids = blobIds.get(e.blob);
      ids?.delete(id);
      if (ids?.size === 0) blobIds.delete(e.blob);
    },
  });
  // A load shared by every caller that missed while it ran. It resolves to a snapshot of the key
  // that no eviction touches; the last of its waiters to take a copy wipes it.
  const inflight = new Map<string, { snapshot: Promise<Buffer>; waiters: number }>();

  return {
    async get(wrapped, contextId, load) {
      const id = createHash('sha256').update(contextId).update('\0').update(wrapped).digest('base64');
      const hit = entries.get(id); // a hit becomes the most recently used
      if (hit && hit.expiresAt > now()) {
        opts.metrics?.cache.inc({ result: 'hit' });
        return Buffer.from(hit.key);
      }
      if (hit) entries.delete(id);
      let pending = inflight.get(id);
      if (pending) {
        opts.metrics?.cache.inc({ result: 'coalesced' });
      } else {
        opts.metrics?.cache.inc({ result: 'miss' });
        const snapshot = load()
          .then((key) => {
            const copy = Buffer.from(key);
            const blob = blobKey(wrapped);
            blobIds.set(blob, (blobIds.get(blob) ?? new Set()).add(id));
            entries.set(id, { key, expiresAt: now() + opts.ttlMs, blob });
            return copy;
          })
          .finally(() => inflight.delete(id));
        pending = { snapshot, waiters: 0 };
        inflight.set(id, pending);
      }
      const shared = pending;
      shared.waiters++;
      let key: Buffer | undefined;
      try {
        key = await shared.snapshot;
        return Buffer.from(key);
      } finally {
        if (--shared.waiters === 0) key?.fill(0);
      }
    },
    forget(wrapped) {
      for (const id of [...(blobIds.get(blobKey(wrapped)) ?? [])]) entries.delete(id);
    },
    clear() {
      entries.clear();
    },
    size: () => entries.size,
  };
}
