// On-demand refresh: a new value of the refresh annotation re-reads the SecretSync's secrets from
// the API at once — here while the change feed delivers nothing (its answers are dropped on the
// operator's side, as when a proxy stalls the long poll) and the refresh interval is an hour, so
// nothing else could bring the new value — and status records the value handled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFRESH_ANNOTATION, type SecretSync } from '../../apis/v1alpha1/types.js';
import { eventually } from '../../runtime/test-helpers.js';
import { type OperatorSuite, operatorSuite } from '../../test-helpers.js';

describe('SecretSync: refresh on request', () => {
  let suite: OperatorSuite;
  let vaultId: string;
  let feedStalled = false;
  /** Secret reads the operator made through the API. */
  let reads = 0;

  /** The operator's fetch: while the feed is stalled, a change-feed answer never reaches it. */
  const stallingFetch: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (/\/secrets(\/|\?|$)/.test(new URL(url).pathname)) reads++;
    const res = await fetch(input, init);
    if (feedStalled && new URL(url).pathname.endsWith('/events')) {
      await res.body?.cancel();
      return new Promise<Response>((_, reject) => {
        const signal = init?.signal;
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    return res;
  };
  const password = async () => (await suite.readSecret('db'))?.password;
  /**
   * Writes a new value and resolves with it once it has stayed out of the Secret for 2 s. An
   * operator that changed leadership meanwhile (short test leases, a loaded machine) reads
   * everything once: then it tries again with another value.
   */
  const unseenWrite = async (prefix: string) => {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const value = `${prefix}.${attempt}`;
      await suite.put(vaultId, 'app/db/password', value);
      await new Promise((r) => setTimeout(r, 2_000));
      if ((await password()) !== value) return value;
    }
    throw new Error('every new value reached the Secret without a refresh request');
  };
  const annotate = async (value: string) => {
    const s = await suite.getSync('db');
    await suite.replace<SecretSync>({
      ...s,
      metadata: { ...s.metadata, annotations: { ...s.metadata.annotations, [REFRESH_ANNOTATION]: value } },
    });
  };

  beforeAll(async () => {
    suite = await operatorSuite('sync-refresh', ['app']);
    // Every sync is enqueued again each second: resyncs are frequent, refreshes are hourly.
    await suite.startOperator({ fetch: stallingFetch, resyncMs: 1_000 });
    vaultId = await suite.createReadyVault('main', {
      access: [{ serviceAccount: 'app', paths: ['app/**'], permissions: ['read'] }],
    });
    await suite.put(vaultId, 'app/db/password', 'pw-1');
    await suite.createSync('db', {
      vaultRef: { name: 'main' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'password', path: 'app/db/password' }],
      refreshInterval: '1h',
    });
    await eventually('first sync', async () => (await password()) === 'pw-1');
  });
  afterAll(async () => {
    await suite?.close();
  });

  it('reads nothing from the API on a resync before the refresh slot', async () => {
    await eventually('status settled', async () => (await suite.getSync('db')).status?.secretHash);
    await new Promise((r) => setTimeout(r, 1_500));
    const before = reads;
    // Three resyncs or more, each a read without the memo; at most one read allowed for a new
    // leadership term (short test leases on a loaded machine), which reads everything once.
    await new Promise((r) => setTimeout(r, 3_500));
    expect(reads - before).toBeLessThanOrEqual(1);
  });

  it('re-reads at once when the annotation gets a new value, and records the value handled', async () => {
    const before = await suite.getSync('db');
    expect(before.status?.lastRefreshRequest).toBeUndefined();
    feedStalled = true;
    const value = await unseenWrite('pw-2');

    await annotate('2026-01-01T00:00:00Z');
    await eventually('refreshed', async () => (await password()) === value, 10_000);
    const synced = await eventually('handled value recorded', async () => {
      const s = await suite.getSync('db');
      return s.status?.lastRefreshRequest === '2026-01-01T00:00:00Z' && s;
    });
    expect(synced.metadata.generation).toBe(before.metadata.generation);
    expect(synced.status?.syncedVersions?.['app/db/password']).toBeGreaterThan(
      before.status?.syncedVersions?.['app/db/password'] ?? Number.POSITIVE_INFINITY,
    );

    // Any new value will do, again.
    const next = await unseenWrite('pw-3');
    await annotate('again');
    await eventually('refreshed again', async () => (await password()) === next, 10_000);
    await eventually(
      'recorded again',
      async () => (await suite.getSync('db')).status?.lastRefreshRequest === 'again',
    );
  });
});
