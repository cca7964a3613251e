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

  /** The operator's fetch: while the feed is stalled, a change-feed answer never reaches it. */
  const stallingFetch: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
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
  const annotate = async (value: string) => {
    const s = await suite.getSync('db');
    await suite.replace<SecretSync>({
      ...s,
      metadata: { ...s.metadata, annotations: { ...s.metadata.annotations, [REFRESH_ANNOTATION]: value } },
    });
  };

  beforeAll(async () => {
    suite = await operatorSuite('sync-refresh', ['app']);
    await suite.startOperator({ fetch: stallingFetch });
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

  it('re-reads at once when the annotation gets a new value, and records the value handled', async () => {
    expect((await suite.getSync('db')).status?.lastRefreshRequest).toBeUndefined();
    feedStalled = true;
    await suite.put(vaultId, 'app/db/password', 'pw-2');
    // Nothing brings the new value on its own.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await password()).toBe('pw-1');
    const generation = (await suite.getSync('db')).metadata.generation;

    await annotate('2026-01-01T00:00:00Z');
    await eventually('refreshed', async () => (await password()) === 'pw-2', 10_000);
    const synced = await eventually('handled value recorded', async () => {
      const s = await suite.getSync('db');
      return s.status?.lastRefreshRequest === '2026-01-01T00:00:00Z' && s;
    });
    expect(synced.metadata.generation).toBe(generation);
    expect(synced.status?.syncedVersions).toEqual({ 'app/db/password': 2 });

    // Any new value will do, again.
    await suite.put(vaultId, 'app/db/password', 'pw-3');
    await annotate('again');
    await eventually('refreshed again', async () => (await password()) === 'pw-3', 10_000);
    await eventually(
      'recorded again',
      async () => (await suite.getSync('db')).status?.lastRefreshRequest === 'again',
    );
  });
});
