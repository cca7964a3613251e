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
