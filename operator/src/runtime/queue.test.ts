import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createWorkQueue } from './queue.js';

const noJitter = () => 0.5; // factor 0.9 + 0.2·0.5 = 1

describe('work queue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('queues a key at most once and hands keys out in order', async () => {
    const q = createWorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('get() waits for a key', async () => {
    const q = createWorkQueue();
    const got = q.get();
    q.add('x');
    expect(await got).toBe('x');
  });

  it('never hands a key being processed to a second worker; re-queues it after done()', async () => {
    const q = createWorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => {
      second = k;
    });
    await vi.advanceTimersByTimeAsync(1);
    expect(second).toBeUndefined();
    q.done('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(second).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('done() without a new add does not re-queue', async () => {
    const q = createWorkQueue();
    q.add('a');
    await q.get();
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('addAfter delays the add; of two delays for one key the earlier wins', async () => {
    const q = createWorkQueue();
    q.addAfter('a', 100);
    q.addAfter('a', 50);
    q.addAfter('a', 200);
    await vi.advanceTimersByTimeAsync(49);
    expect(q.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(q.len()).toBe(1);
  });

  it('backs off per key exponentially up to the cap, and forget() resets it', async () => {
    const q = createWorkQueue({ baseDelayMs: 10, maxDelayMs: 100, random: noJitter });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const start = Date.now();
      q.addRateLimited('k');
      while (q.len() === 0) await vi.advanceTimersByTimeAsync(1);
      delays.push(Date.now() - start);
      await q.get();
      q.done('k');
    }
    expect(delays).toEqual([10, 20, 40, 80, 100, 100]);
    expect(q.numRequeues('k')).toBe(6);
    // another key has its own backoff
    q.addRateLimited('other');
    await vi.advanceTimersByTimeAsync(10);
    expect(q.len()).toBe(1);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
  });

  it('limits rate-limited adds with a global token bucket (qps, burst)', async () => {
    const q = createWorkQueue({ baseDelayMs: 1, qps: 10, burst: 2, random: noJitter });
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) q.addRateLimited(k);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(2); // the burst
    await vi.advanceTimersByTimeAsync(99);
    expect(q.len()).toBe(3); // then one per 100 ms
    await vi.advanceTimersByTimeAsync(100);
    expect(q.len()).toBe(4);
    await vi.advanceTimersByTimeAsync(100);
    expect(q.len()).toBe(5);
  });

  it('shutDown() releases waiting workers, hands out nothing more and drops delayed adds', async () => {
    const q = createWorkQueue();
    const waiting = q.get();
    q.addAfter('later', 10);
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('x');
    expect(await q.get()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(20);
    expect(q.len()).toBe(0);
    expect(q.isShuttingDown()).toBe(true);
  });
});
