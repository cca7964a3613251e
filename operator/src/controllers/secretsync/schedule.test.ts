// Periodic refreshes spread over the interval: many syncs reconciled at the same moment (an
// operator start) refresh at evenly spread times, each at the same slot every interval.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRefreshMemo, nextRefreshDelay, refreshPhase } from './schedule.js';

const HOUR = 3_600_000;

describe('refresh schedule', () => {
  it('spreads 5,000 syncs reconciled together evenly over the interval', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const delays = Array.from({ length: 5_000 }, () => nextRefreshDelay(HOUR, randomUUID(), now));
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(HOUR / 100);
      expect(d).toBeLessThan(HOUR * 1.01);
    }
    // Sixty one-minute buckets: uniform would put 83 in each; none holds even twice that.
    const buckets = new Array<number>(61).fill(0);
    for (const d of delays) buckets[Math.floor(d / 60_000)] = (buckets[Math.floor(d / 60_000)] ?? 0) + 1;
    expect(Math.max(...buckets)).toBeLessThan(160);
    expect(buckets.slice(1, 60).every((n) => n > 30)).toBe(true);
  });

  it('keeps each sync at its slot: read again one interval later, wherever it was reconciled from', () => {
    const uid = randomUUID();
    const start = Date.parse('2026-01-01T00:00:00Z');
    const slot = start + nextRefreshDelay(HOUR, uid, start);
    // A feed event reconciles it at an arbitrary time before the slot: it still refreshes at the slot.
    expect(start + 1234 + nextRefreshDelay(HOUR, uid, start + 1234)).toBe(slot);
    // At the slot (or a little late): the next is one interval on.
    expect(slot + nextRefreshDelay(HOUR, uid, slot)).toBe(slot + HOUR);
    expect(slot + 250 + nextRefreshDelay(HOUR, uid, slot + 250)).toBe(slot + HOUR);
    // Woken a little early: that slot counts as done, not read twice in a row.
    expect(slot - 250 + nextRefreshDelay(HOUR, uid, slot - 250)).toBe(slot + HOUR);
  });

  it('derives the phase from the uid alone', () => {
    const uid = randomUUID();
    expect(refreshPhase(uid)).toBe(refreshPhase(uid));
    expect(refreshPhase(uid)).toBeGreaterThanOrEqual(0);
    expect(refreshPhase(uid)).toBeLessThan(1);
  });

  it('skips a read only with the same inputs before the slot, and never after a feed event', () => {
    const memo = createRefreshMemo();
    memo.record('ns/a', 'g1', 10_000, memo.begin('ns/a'));
    expect(memo.wait('ns/a', 'g1', 4_000)).toBe(6_000);
    expect(memo.wait('ns/a', 'g2', 4_000)).toBeUndefined();
    expect(memo.wait('ns/a', 'g1', 10_000)).toBeUndefined();
    expect(memo.wait('ns/b', 'g1', 4_000)).toBeUndefined();
    memo.invalidate('ns/a');
    expect(memo.wait('ns/a', 'g1', 4_000)).toBeUndefined();
    // An event while a read is under way: what that read found is not remembered.
    const token = memo.begin('ns/a');
    memo.invalidate('ns/a');
    memo.record('ns/a', 'g1', 10_000, token);
    expect(memo.wait('ns/a', 'g1', 4_000)).toBeUndefined();
    memo.record('ns/a', 'g1', 10_000, memo.begin('ns/a'));
    memo.forget('ns/a');
    expect(memo.wait('ns/a', 'g1', 4_000)).toBeUndefined();
  });
});
