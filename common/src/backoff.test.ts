import { describe, expect, it } from 'vitest';
import { backoffDelay, EQUAL_JITTER, FULL_JITTER, jittered, TEN_PERCENT_JITTER } from './backoff.js';

const top = () => 0.999999;

describe('backoffDelay', () => {
  it('doubles from the base per attempt and stops at the cap', () => {
    const at = (attempt: number) =>
      backoffDelay(attempt, { baseMs: 100, maxMs: 1_000, jitter: { min: 1, max: 1 } });
    expect([0, 1, 2, 3, 4, 5].map(at)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('survives an attempt count no outage should reach', () => {
    const opts = { baseMs: 100, maxMs: 1_000, jitter: FULL_JITTER, random: top };
    expect(backoffDelay(1e6, opts)).toBeCloseTo(1_000, 2);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, opts)).toBeLessThanOrEqual(1_000);
  });

  it('full jitter spreads from nothing up to the delay', () => {
    expect(backoffDelay(2, { baseMs: 50, maxMs: 1_000, jitter: FULL_JITTER, random: () => 0 })).toBe(0);
    expect(backoffDelay(2, { baseMs: 50, maxMs: 1_000, jitter: FULL_JITTER, random: top })).toBeCloseTo(
      200,
      3,
    );
  });

  it('equal jitter spreads between half and all of the delay', () => {
    expect(backoffDelay(3, { baseMs: 100, maxMs: 5_000, jitter: EQUAL_JITTER, random: () => 0 })).toBe(400);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 5_000, jitter: EQUAL_JITTER, random: top })).toBeCloseTo(
      800,
      3,
    );
    expect(backoffDelay(9, { baseMs: 100, maxMs: 5_000, jitter: EQUAL_JITTER, random: top })).toBeCloseTo(
      5_000,
      2,
    );
  });

  it('jitters within ±10% and never past the cap', () => {
    const opts = (random: () => number) => ({
      baseMs: 100,
      maxMs: 10_000,
      jitter: TEN_PERCENT_JITTER,
      random,
    });
    expect(
      backoffDelay(
        0,
        opts(() => 0),
      ),
    ).toBe(90);
    expect(backoffDelay(0, opts(top))).toBeCloseTo(110, 3);
    expect(
      backoffDelay(
        3,
        opts(() => 0.5),
      ),
    ).toBe(800);
    expect(backoffDelay(20, opts(top))).toBe(10_000);
    expect(
      backoffDelay(
        2000,
        opts(() => 0),
      ),
    ).toBe(9_000);
  });

  it('draws from Math.random when no source is given, inside the range', () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(1, { baseMs: 100, maxMs: 1_000, jitter: EQUAL_JITTER });
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThan(200);
    }
  });
});

describe('jittered', () => {
  it('multiplies by a factor drawn from the range', () => {
    expect(jittered(1_000, { min: 1, max: 1.2 }, () => 0)).toBe(1_000);
    expect(jittered(1_000, { min: 1, max: 1.2 }, () => 0.5)).toBeCloseTo(1_100, 6);
    expect(jittered(1_000, { min: 0.5, max: 1.5 }, top)).toBeCloseTo(1_500, 2);
  });
});
