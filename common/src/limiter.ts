// Per-principal budgets (requests, KMS calls): a token bucket per key, in this process's memory,
// so each replica counts its own. A bucket holds up to `burst` tokens and refills at
// `perSecond`; a call that finds none left is refused with the whole seconds until one has
// refilled. Buckets are kept for the most recently seen keys only: a forgotten bucket is a
// full one, which is what an idle principal's bucket would be anyway.
import { LRUCache } from 'lru-cache';

export interface Limiter {
  /** Spends one token of `key`'s bucket: 0 when allowed, otherwise seconds to wait (≥ 1). */
  take(key: string): number;
}

export const UNLIMITED: Limiter = { take: () => 0 };

export function createLimiter(opts: {
  /** Sustained rate; 0 turns the limit off. */
  perSecond: number;
  /** Tokens a full bucket holds (default: two seconds' worth). */
  burst?: number;
  maxKeys?: number;
  now?: () => number;
}): Limiter {
  const { perSecond } = opts;
  if (!(perSecond > 0)) return UNLIMITED;
  const burst = Math.max(1, opts.burst ?? perSecond * 2);
  const now = opts.now ?? (() => performance.now());
  const buckets = new LRUCache<string, { tokens: number; at: number }>({ max: opts.maxKeys ?? 100_000 });
  return {
    take(key) {
      const t = now();
      const b = buckets.get(key) ?? { tokens: burst, at: t };
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond);
      b.at = t;
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - b.tokens) / perSecond));
    },
  };
}
