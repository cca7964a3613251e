// Who may follow a vault's change feed, and for how long: following needs `list` on the paths
// it reveals; the token and the grants are checked again before every delivery, so a revoked
// or expired grant, or a disabled principal, stops the feed at once; grant patterns are matched
// in linear time; and one principal's subscriptions are capped while admins (the operator) and
// other principals still subscribe.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  createPolicy,
  createUser,
  createVault,
  tokenFor,
  writeSecret,
} from '../../../../../test/support/api-helpers.js';
import { type FeedEvent, openStream } from '../../../../../test/support/sse.js';
import { createPollingFeed } from '../../../services/events/feed.js';

type Page = { events: FeedEvent[]; next_cursor: string };

describe('change feed access', () => {
  let api: TestApi;
  let base: string;

  beforeAll(async () => {
    api = await startTestApi({ ONECLAW_FEED_MAX_PER_PRINCIPAL: '2' }, { listen: true });
    base = api.server.url ?? '';
  });
  afterAll(async () => {
    await api?.close();
  });

  const member = async () => {
    const { userId, apiKey } = await createUser(api);
    return { userId, auth: { authorization: `Bearer ${await tokenFor(api, apiKey)}` } };
  };
  const grant = async (vaultId: string, userId: string, pattern: string, permissions: string[], extra = {}) =>
    (
      await createPolicy(api, vaultId, {
        principal_type: 'user',
        principal_id: userId,
        secret_path_pattern: pattern,
        permissions,
        ...extra,
      })
    ).id;
  const poll = (vaultId: string, query: string, headers: Record<string, string>) =>
    fetch(`${base}/v1/vaults/${vaultId}/events${query}`, { headers });
  const stream = (vaultId: string, headers: Record<string, string>, after = '0') =>
    openStream(`${base}/v1/vaults/${vaultId}/events?after=${after}`, headers);
  const errorCode = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;

  it('needs list: a read-only grant neither polls nor streams the feed', async () => {
    const vault = await createVault(api);
    const reader = await member();
    await grant(vault.id, reader.userId, 'app/*', ['read']);
    await writeSecret(api, vault.id, 'app/db', 'v');
    let r = await poll(vault.id, '?after=0', reader.auth);
    expect(r.status).toBe(403);
    expect(await errorCode(r)).toBe('forbidden');
    r = await poll(vault.id, '', { ...reader.auth, accept: 'text/event-stream' });
    expect(r.status).toBe(403);
    await r.body?.cancel();

    // With list, the same member sees vault-level events and the paths it may list, no others.
    const lister = await member();
    await grant(vault.id, lister.userId, 'app/*', ['list']);
    await writeSecret(api, vault.id, 'other/x', 'v');
    r = await poll(vault.id, '?after=0', lister.auth);
    expect(r.status).toBe(200);
    const page = (await r.json()) as Page;
    expect(page.events.map((e) => e.path ?? e.kind)).toEqual([
      'vault.created',
      'vault.grants_changed',
      'app/db',
      'vault.grants_changed',
    ]);
  });

  it('matches grant patterns in linear time: a pathological pattern and path answer at once', async () => {
    const vault = await createVault(api);
    const m = await member();
    // A backtracking engine needs O(n^4) steps to reject the long path: tens of seconds.
    await grant(vault.id, m.userId, '*a*a*a*b', ['list']);
    const long = 'a'.repeat(500);
    await writeSecret(api, vault.id, long, 'v');
    await writeSecret(api, vault.id, 'xaxaxab', 'v');
    for (const accept of ['application/json', 'text/event-stream']) {
      const t0 = performance.now();
      if (accept === 'application/json') {
        const page = (await (await poll(vault.id, '?after=0&wait=5', m.auth)).json()) as Page;
        expect(page.events.map((e) => e.path ?? e.kind)).toEqual([
          'vault.created',
          'vault.grants_changed',
          'xaxaxab',
        ]);
      } else {
        const s = await stream(vault.id, m.auth);
        try {
          expect((await s.next()).event).toBe('vault.created');
          expect((await s.next()).event).toBe('vault.grants_changed');
          expect((await s.next()).data.path).toBe('xaxaxab');
        } finally {
          await s.close();
        }
      }
      expect(performance.now() - t0, accept).toBeLessThan(1_000);
    }
    // The listing filters in PostgreSQL, whose engine does not backtrack on these.
    const t0 = performance.now();
    const r = await fetch(`${base}/v1/vaults/${vault.id}/secrets`, { headers: m.auth });
    expect(((await r.json()) as { secrets: Array<{ path: string }> }).secrets.map((x) => x.path)).toEqual([
      'xaxaxab',
    ]);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  /** A member following a stream that delivers one write, then loses access by `withdraw`. */
  const withdrawnMidStream = async (
    withdraw: (ctx: { vaultId: string; userId: string; policyId: string }) => Promise<void>,
    grantExtra = {},
  ) => {
    const vault = await createVault(api);
    const m = await member();
    const policyId = await grant(vault.id, m.userId, 'app/**', ['list'], grantExtra);
    const s = await stream(vault.id, m.auth);
    try {
      expect((await s.next()).event).toBe('vault.created');
      expect((await s.next()).event).toBe('vault.grants_changed');
      await writeSecret(api, vault.id, 'app/first', 'v');
      expect((await s.next()).data.path).toBe('app/first');
      await withdraw({ vaultId: vault.id, userId: m.userId, policyId });
      await writeSecret(api, vault.id, 'app/second', 'v');
      await expect(s.next(5_000)).rejects.toThrow('stream ended');
      expect(s.messages.some((x) => x.data?.includes('app/second'))).toBe(false);
    } finally {
      await s.close();
    }
    // And a reconnect is refused.
    const r = await poll(vault.id, '?after=0', m.auth);
    expect([401, 403]).toContain(r.status);
    await r.body?.cancel();
  };

  it('a grant revoked mid-stream stops the next delivery', async () => {
    await withdrawnMidStream(async ({ vaultId, policyId }) => {
      const r = await api.request({ method: 'DELETE', url: `/v1/vaults/${vaultId}/policies/${policyId}` });
      expect(r.statusCode).toBe(204);
    });
  });

  it('a principal disabled mid-stream gets nothing more', async () => {
    await withdrawnMidStream(async ({ userId }) => {
      const r = await api.request({
        method: 'PATCH',
        url: `/v1/users/${userId}`,
        payload: { disabled: true },
      });
      expect(r.statusCode).toBe(200);
    });
  });

  it('a grant that expires mid-stream stops the next delivery', async () => {
    const expiresAt = Date.now() + 1_500;
    await withdrawnMidStream(
      async () => {
        await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 50));
      },
      { expires_at: new Date(expiresAt).toISOString() },
    );
  });

  it('a waiting long poll answers 403, not events, when its grant was revoked during the wait', async () => {
    const vault = await createVault(api);
    const m = await member();
    const policyId = await grant(vault.id, m.userId, 'app/**', ['list']);
    const first = (await (await poll(vault.id, '?after=0', m.auth)).json()) as Page;
    const pending = poll(vault.id, `?after=${first.next_cursor}&wait=30`, m.auth);
    await new Promise((r) => setTimeout(r, 200));
    const del = await api.request({ method: 'DELETE', url: `/v1/vaults/${vault.id}/policies/${policyId}` });
    expect(del.statusCode).toBe(204);
    await writeSecret(api, vault.id, 'app/after-revoke', 'v');
    const r = await pending;
    expect(r.status).toBe(403);
    expect(await r.text()).not.toContain('app/after-revoke');
  });

  it('caps one principal’s open subscriptions; other principals and admins still subscribe', async () => {
    const vault = await createVault(api);
    const a = await member();
    const b = await member();
    await grant(vault.id, a.userId, '**', ['list']);
    await grant(vault.id, b.userId, '**', ['list']);
    const admin = { authorization: `Bearer ${await api.adminToken()}` };
    const open: Awaited<ReturnType<typeof stream>>[] = [];
    try {
      // Two of a's: a stream and a waiting long poll.
      open.push(await stream(vault.id, a.auth));
      expect(open[0]?.res.status).toBe(200);
      const cursor = ((await (await poll(vault.id, '?after=0', a.auth)).json()) as Page).next_cursor;
      const waiting = poll(vault.id, `?after=${cursor}&wait=30`, a.auth);
      await new Promise((r) => setTimeout(r, 200));

      const refused = await poll(vault.id, '', { ...a.auth, accept: 'text/event-stream' });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const body = (await refused.json()) as { error: { code: string; message: string; request_id: string } };
      expect(body.error.code).toBe('rate_limited');
      expect(body.error.request_id).toBe(refused.headers.get('x-request-id'));
      const refusedPoll = await poll(vault.id, `?after=${cursor}&wait=1`, a.auth);
      expect(refusedPoll.status).toBe(429);
      await refusedPoll.body?.cancel();

      // Another member is not affected, nor is an admin with more streams than the cap.
      open.push(await stream(vault.id, b.auth));
      expect(open.at(-1)?.res.status).toBe(200);
      for (let i = 0; i < 3; i++) {
        open.push(await stream(vault.id, admin));
        expect(open.at(-1)?.res.status).toBe(200);
      }

      // A subscription that ends frees its place.
      await writeSecret(api, vault.id, 'cap/wake', 'v');
      expect((await waiting).status).toBe(200);
      const again = await stream(vault.id, a.auth);
      open.push(again);
      expect(again.res.status).toBe(200);
    } finally {
      await Promise.all(open.map((s) => s.close()));
    }
  });

  it('members cannot crowd admins out of the process-wide cap', async () => {
    const feed = createPollingFeed({ pool: api.db.pool, maxSubscribers: 2 });
    const vaultId = (await createVault(api)).id;
    const subs = [
      feed.subscribe(vaultId, { key: 'member-1', maxPerKey: 100 }),
      feed.subscribe(vaultId, { key: 'member-2', maxPerKey: 100 }),
    ];
    try {
      expect(() => feed.subscribe(vaultId, { key: 'member-3', maxPerKey: 100 })).toThrow(
        expect.objectContaining({ status: 503, code: 'feed_busy' }),
      );
      // The operator's followers, one per vault, whatever the members hold.
      for (let i = 0; i < 5; i++) subs.push(feed.subscribe(vaultId, { key: 'operator', privileged: true }));
      // Admin subscriptions take no member's place either.
      subs.shift()?.close();
      subs.push(feed.subscribe(vaultId, { key: 'member-3', maxPerKey: 100 }));
    } finally {
      for (const sub of subs) sub.close();
    }
  });
});
