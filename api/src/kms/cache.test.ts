import { describe, expect, it } from 'vitest';
import { createKekCache } from './cache.js';

describe('KEK cache', () => {
  it('reloads an entry after its TTL', async () => {
    let now = 0;
    let loads = 0;
    const cache = createKekCache({ maxEntries: 10, ttlMs: 1_000, now: () => now });
    const load = async () => {
      loads++;
      return Buffer.alloc(32, loads);
    };
    const blob = Buffer.from('wrapped');
    expect((await cache.get(blob, 'ctx', load))[0]).toBe(1);
    now = 999;
    expect((await cache.get(blob, 'ctx', load))[0]).toBe(1);
    now = 1_000;
    expect((await cache.get(blob, 'ctx', load))[0]).toBe(2);
    expect(loads).toBe(2);
  });

  it('wipes an expired key when it is next looked up, and a key evicted for room at once', async () => {
    let now = 0;
    const cache = createKekCache({ maxEntries: 1, ttlMs: 1_000, now: () => now });
    const first = Buffer.alloc(32, 1);
    await cache.get(Buffer.from('a'), 'ctx', async () => first);
    now = 1_000;
    await cache.get(Buffer.from('a'), 'ctx', async () => Buffer.alloc(32, 2));
    expect(first.every((b) => b === 0)).toBe(true);
    const second = Buffer.alloc(32, 3);
    await cache.get(Buffer.from('b'), 'ctx', async () => second);
    const third = Buffer.alloc(32, 4);
    await cache.get(Buffer.from('c'), 'ctx', async () => third);
    expect(second.every((b) => b === 0)).toBe(true);
    expect(third.every((b) => b === 4)).toBe(true);
    expect(cache.size()).toBe(1);
  });

  it('keys entries by blob and context, so neither can be swapped', async () => {
    const cache = createKekCache({ maxEntries: 10, ttlMs: 60_000 });
    let loads = 0;
    const load = async () => Buffer.alloc(32, ++loads);
    await cache.get(Buffer.from('a'), 'ctx1', load);
    await cache.get(Buffer.from('a'), 'ctx2', load);
    await cache.get(Buffer.from('b'), 'ctx1', load);
    expect(loads).toBe(3);
  });

  it('stays within its size, evicting the least recently used and wiping it', async () => {
    const cache = createKekCache({ maxEntries: 2, ttlMs: 60_000 });
    const keys = [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3)];
    await cache.get(Buffer.from('k0'), 'c', async () => keys[0] as Buffer);
    await cache.get(Buffer.from('k1'), 'c', async () => keys[1] as Buffer);
    await cache.get(Buffer.from('k0'), 'c', async () => Buffer.alloc(32)); // hit: k0 is now newest
    await cache.get(Buffer.from('k2'), 'c', async () => keys[2] as Buffer);
    expect(cache.size()).toBe(2);
    expect(keys[1]?.every((b) => b === 0)).toBe(true); // k1 was evicted and overwritten
    expect(keys[0]?.every((b) => b === 1)).toBe(true);
    cache.clear();
    expect(cache.size()).toBe(0);
    expect(keys[0]?.every((b) => b === 0)).toBe(true);
  });

  it('hands each caller its own copy: evicting the entry never zeroes a key in use', async () => {
    const cache = createKekCache({ maxEntries: 1, ttlMs: 60_000 });
    const a = await cache.get(Buffer.from('a'), 'c', async () => Buffer.alloc(32, 7));
    const b = await cache.get(Buffer.from('b'), 'c', async () => Buffer.alloc(32, 8)); // evicts a
    expect(cache.size()).toBe(1);
    expect(a.every((x) => x === 7)).toBe(true);
    const again = await cache.get(Buffer.from('b'), 'c', async () => Buffer.alloc(32)); // hit
    again.fill(0); // a caller wiping its copy leaves the cached key intact
    expect((await cache.get(Buffer.from('b'), 'c', async () => Buffer.alloc(32)))[0]).toBe(8);
    expect(b[0]).toBe(8);
  });

  it('keeps a coalesced load intact when another load evicts it before its waiters resume', async () => {
    const cache = createKekCache({ maxEntries: 1, ttlMs: 60_000 });
    const deferred = () => {
      let resolve!: (b: Buffer) => void;
      const promise = new Promise<Buffer>((r) => {
        resolve = r;
      });
      return { promise, resolve };
    };
    const loadA = deferred();
    const loadB = deferred();
    const firstA = cache.get(Buffer.from('a'), 'c', () => loadA.promise);
    const secondA = cache.get(Buffer.from('a'), 'c', () => Promise.reject(new Error('not coalesced')));
    const onlyB = cache.get(Buffer.from('b'), 'c', () => loadB.promise);
    // Both loads finish in the same turn: storing b evicts (and wipes) a before a's waiters run.
    loadA.resolve(Buffer.alloc(32, 1));
    loadB.resolve(Buffer.alloc(32, 2));
    const [k1, k2, kb] = await Promise.all([firstA, secondA, onlyB]);
    expect(k1.every((x) => x === 1)).toBe(true);
    expect(k2.every((x) => x === 1)).toBe(true);
    expect(k1).not.toBe(k2);
    expect(kb.every((x) => x === 2)).toBe(true);
  });

  it('does not cache a failed load, and lets the next caller try again', async () => {
    const cache = createKekCache({ maxEntries: 2, ttlMs: 60_000 });
    await expect(
      cache.get(Buffer.from('x'), 'c', async () => Promise.reject(new Error('kms down'))),
    ).rejects.toThrow('kms down');
    expect(cache.size()).toBe(0);
    expect((await cache.get(Buffer.from('x'), 'c', async () => Buffer.alloc(32, 5)))[0]).toBe(5);
  });
});

describe('KEK cache forget', () => {
  it('wipes every entry made from one wrapped blob, whatever its context, and nothing else', async () => {
    const cache = createKekCache({ maxEntries: 10, ttlMs: 60_000 });
    const a1 = Buffer.alloc(32, 1);
    const a2 = Buffer.alloc(32, 2);
    const b = Buffer.alloc(32, 3);
    await cache.get(Buffer.from('A'), 'ctx1', async () => a1);
    await cache.get(Buffer.from('A'), 'ctx2', async () => a2);
    await cache.get(Buffer.from('B'), 'ctx1', async () => b);
    cache.forget(Buffer.from('A'));
    expect(cache.size()).toBe(1);
    expect(a1.every((x) => x === 0) && a2.every((x) => x === 0)).toBe(true);
    expect(b.every((x) => x === 3)).toBe(true);
  });
});
