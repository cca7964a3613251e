// Many callers, one statement: each caller hands in an item and waits for its own result;
// items that arrive while earlier batches are at the database leave together as the next
// batch. Every statement to PostgreSQL costs a round trip and a wake-up of its backend, which
// on a busy server costs more than the work in the statement, so concurrent requests share them.
//
// There is no timer: a batch leaves as soon as a slot is free, so a lone caller waits for
// nothing, and under load an item waits at most for the batches already in flight.

import { DatabaseUnavailableError } from './pool.js';

export interface BatchOptions {
  /** Items in one batch at most. */
  maxBatch: number;
  /** Batches at the database at the same time at most (each holds a pool connection). */
  maxInFlight: number;
}

interface Waiter<In, Out> {
  item: In;
  resolve: (out: Out) => void;
  reject: (err: unknown) => void;
}

/**
 * A function that runs `run` on batches of the items it is called with. `run` returns one
 * result per item, in order. If it throws for a batch of several, each item is run again on
 * its own, so one item the database refuses fails only its own caller.
 */
export function batched<In, Out>(
  run: (items: In[]) => Promise<Out[]>,
  opts: BatchOptions,
): (item: In) => Promise<Out> {
  const queue: Waiter<In, Out>[] = [];
  let inFlight = 0;

  const runAll = async (batch: Waiter<In, Out>[]) => {
    const results = await run(batch.map((w) => w.item));
    batch.forEach((w, i) => {
      w.resolve(results[i] as Out);
    });
  };

  const settle = async (batch: Waiter<In, Out>[]) => {
    try {
      await runAll(batch).catch(async (err: unknown) => {
        // An unreachable database fails every item alike: no point asking it once per item.
        if (batch.length === 1 || err instanceof DatabaseUnavailableError) throw err;
        await Promise.all(batch.map((w) => runAll([w]).catch(w.reject)));
      });
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      inFlight--;
      pump();
    }
  };

  const pump = () => {
    while (inFlight < opts.maxInFlight && queue.length > 0) {
      inFlight++;
      void settle(queue.splice(0, opts.maxBatch));
    }
  };

  return (item) =>
    new Promise<Out>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      pump();
    });
}
