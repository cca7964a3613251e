// When a SecretSync is read again without a feed event: at a fixed phase of its refresh interval,
// derived from its uid. Syncs created together (a deploy, an operator restart that re-reads
// everything at once) then refresh spread evenly over the interval instead of together, and each
// keeps its slot across reconciles, restarts and leader changes.
import { createHash } from 'node:crypto';

/** `uid`'s offset into any interval, as a fraction in [0, 1). */
export function refreshPhase(uid: string): number {
  return createHash('sha256').update(uid).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * Milliseconds from `now` to the object's next refresh slot. A slot closer than 1% of the
 * interval is skipped (the reconcile that asks is that slot's refresh, woken a little early), so
 * two reads never follow each other by less than that and none is more than 1.01 intervals apart.
 */
export function nextRefreshDelay(intervalMs: number, uid: string, now: number = Date.now()): number {
  if (!(intervalMs > 0)) return intervalMs;
  const offset = refreshPhase(uid) * intervalMs;
  const delay = intervalMs - ((((now - offset) % intervalMs) + intervalMs) % intervalMs);
  return delay < intervalMs / 100 ? delay + intervalMs : delay;
}

/**
 * What each SecretSync was last read with (a digest of everything that could change what its
 * Secret must hold besides the API's data: spec, refresh request, vault, the Secret itself) and
 * when its next refresh slot is. The controller's periodic resync enqueues every sync at once;
 * with the same inputs before the slot, such a reconcile reads nothing, so the API's load stays
 * spread over the interval. A change-feed event invalidates the sync's entry, also one arriving
 * while a read is under way (that read may have missed the change).
 */
export interface RefreshMemo {
  /** Ms to wait for the slot when nothing changed since the last read; undefined: read now. */
  wait(key: string, inputs: string, now?: number): number | undefined;
  /** A read starts: forgets the entry; record() with the token stores one only if no event came since. */
  begin(key: string): number;
  record(key: string, inputs: string, nextAt: number, token: number): void;
  /** Something outside the inputs changed (a feed event): the next reconcile reads. */
  invalidate(key: string): void;
  /** The sync is gone. */
  forget(key: string): void;
}

export function createRefreshMemo(): RefreshMemo {
  const last = new Map<string, { inputs: string; nextAt: number }>();
  const epochs = new Map<string, number>();
  return {
    wait(key, inputs, now = Date.now()) {
      const m = last.get(key);
      return m && m.inputs === inputs && m.nextAt > now ? m.nextAt - now : undefined;
    },
    begin(key) {
      last.delete(key);
      return epochs.get(key) ?? 0;
    },
    record(key, inputs, nextAt, token) {
      if ((epochs.get(key) ?? 0) === token) last.set(key, { inputs, nextAt });
    },
    invalidate(key) {
      last.delete(key);
      epochs.set(key, (epochs.get(key) ?? 0) + 1);
    },
    forget(key) {
      last.delete(key);
      epochs.delete(key);
    },
  };
}
