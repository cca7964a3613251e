// Unwrapped KEKs in memory: bounded in size and age, keyed by a digest of the exact wrapped
// blob and its context, so a hit can only ever return what unwrapping that blob would. Misses
// for the same entry that arrive together share one KMS call. Evicted keys are overwritten.
//
// Every caller gets its own copy of the key and wipes it when done. Handing out the cached
// Buffer itself is unsafe: between a lookup and its use lies at least one await, and any other
// request's miss in that gap can evict the entry and zero the key under the first request.
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
  // Map iteration order is insertion order: re-inserting on hit makes it an LRU.
  const entries = new Map<string, Entry>();
  // A load shared by every caller that missed while it ran. It resolves to a snapshot of the key
  // that no eviction touches; the last of its waiters to take a copy wipes it.
  const inflight = new Map<string, { snapshot: Promise<Buffer>; waiters: number }>();

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
        return Buffer.from(hit.key);
      }
      if (hit) evict(id);
      let pending = inflight.get(id);
      if (pending) {
        opts.metrics?.cache.inc({ result: 'coalesced' });
      } else {
        opts.metrics?.cache.inc({ result: 'miss' });
        const snapshot = load()
          .then((key) => {
            const copy = Buffer.from(key);
            const blob = blobKey(wrapped);
            entries.set(id, { key, expiresAt: now() + opts.ttlMs, blob });
            blobIds.set(blob, (blobIds.get(blob) ?? new Set()).add(id));
            while (entries.size > opts.maxEntries) {
              const oldest = entries.keys().next().value as string;
              evict(oldest);
            }
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
      for (const id of [...(blobIds.get(blobKey(wrapped)) ?? [])]) evict(id);
    },
    clear() {
      for (const id of [...entries.keys()]) evict(id);
    },
    size: () => entries.size,
  };
}
