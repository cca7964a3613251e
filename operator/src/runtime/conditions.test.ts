import { describe, expect, it } from 'vitest';
import { conditionUnchanged, getCondition, isConditionTrue, setCondition } from './conditions.js';

const t0 = new Date('2025-01-01T00:00:00.123Z');
const t1 = new Date('2025-01-01T00:05:00.000Z');

describe('conditions', () => {
  it('appends a new type with lastTransitionTime at second precision', () => {
    const c = setCondition(
      undefined,
      { type: 'Ready', status: 'False', reason: 'Pending', message: 'm' },
      t0,
    );
    expect(c).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Pending',
        message: 'm',
        lastTransitionTime: '2025-01-01T00:00:00Z',
      },
    ]);
  });

  it('upserts by type, keeping order and other types, without mutating the input', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Pending', message: '' }, t0);
    const b = setCondition(a, { type: 'Synced', status: 'True', reason: 'Synced', message: '' }, t0);
    const c = setCondition(
      b,
      { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', observedGeneration: 3 },
      t1,
    );
    expect(c.map((x) => x.type)).toEqual(['Ready', 'Synced']);
    expect(getCondition(c, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'Ready',
      observedGeneration: 3,
    });
    expect(getCondition(b, 'Ready')?.status).toBe('False');
    expect(isConditionTrue(c, 'Ready')).toBe(true);
    expect(isConditionTrue(c, 'Missing')).toBe(false);
  });

  it('moves lastTransitionTime only when the status changes', () => {
    const a = setCondition([], { type: 'Ready', status: 'True', reason: 'Ready', message: 'one' }, t0);
    const same = setCondition(a, { type: 'Ready', status: 'True', reason: 'StillReady', message: 'two' }, t1);
    expect(getCondition(same, 'Ready')).toMatchObject({
      reason: 'StillReady',
      message: 'two',
      lastTransitionTime: '2025-01-01T00:00:00Z',
    });
    const flipped = setCondition(same, { type: 'Ready', status: 'False', reason: 'Failed', message: '' }, t1);
    expect(getCondition(flipped, 'Ready')?.lastTransitionTime).toBe('2025-01-01T00:05:00Z');
  });

  it('tells when a write would change nothing', () => {
    const a = setCondition(
      [],
      { type: 'Ready', status: 'True', reason: 'R', message: 'm', observedGeneration: 1 },
      t0,
    );
    expect(
      conditionUnchanged(a, {
        type: 'Ready',
        status: 'True',
        reason: 'R',
        message: 'm',
        observedGeneration: 1,
      }),
    ).toBe(true);
    expect(
      conditionUnchanged(a, {
        type: 'Ready',
        status: 'True',
        reason: 'R',
        message: 'm',
        observedGeneration: 2,
      }),
    ).toBe(false);
    expect(conditionUnchanged(undefined, { type: 'Ready', status: 'True', reason: 'R', message: 'm' })).toBe(
      false,
    );
    expect(getCondition(undefined, 'Ready')).toBeUndefined();
  });
});
