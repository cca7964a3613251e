import { describe, expect, it } from 'vitest';
import { batched } from './batcher.js';
import { DatabaseUnavailableError } from './pool.js';

/** A run function that records its batches and can be held until released. */
function recorder(fail?: (item: number) => Error | undefined) {
  const batches: number[][] = [];
  let release = () => {};
  let gate: Promise<void> | undefined;
  const run = async (items: number[]) => {
    batches.push(items);
    if (gate) await gate;
    for (const i of items) {
      const err = fail?.(i);
      if (err) throw err;
    }
    return items.map((i) => i * 10);
  };
  return {
    batches,
    run,
    hold() {
      gate = new Promise((r) => {
        release = () => {
          gate = undefined;
          r();
        };
      });
    },
    release: () => release(),
  };
}

describe('batched', () => {
  it('sends a lone call at once, and calls made meanwhile together, each getting its own result', async () => {
    const r = recorder();
    const call = batched(r.run, { maxBatch: 3, maxInFlight: 1 });
    r.hold();
    const first = call(1);
    const rest = [2, 3, 4, 5].map(call);
    expect(r.batches).toEqual([[1]]);
    r.release();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40, 50]);
    expect(r.batches).toEqual([[1], [2, 3, 4], [5]]);
  });

  it('retries a refused batch item by item, so only the refused item fails', async () => {
    const r = recorder((i) => (i === 3 ? new Error('refused') : undefined));
    const call = batched(r.run, { maxBatch: 10, maxInFlight: 1 });
    r.hold();
    const first = call(1);
    const rest = [2, 3, 4].map((i) => call(i).catch((err: Error) => err.message));
    r.release();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 'refused', 40]);
  });

  it('fails every item of a batch at once when the database is unavailable', async () => {
    const r = recorder(() => new DatabaseUnavailableError('database unavailable'));
    const call = batched(r.run, { maxBatch: 10, maxInFlight: 1 });
    r.hold();
    const first = call(1).catch((err: Error) => err.name);
    const rest = [2, 3].map((i) => call(i).catch((err: Error) => err.name));
    r.release();
    expect(await Promise.all([first, ...rest])).toEqual(Array(3).fill('DatabaseUnavailableError'));
    expect(r.batches).toEqual([[1], [2, 3]]);
  });
});
