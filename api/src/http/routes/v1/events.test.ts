// The change feed end to end on a listening server and the real PostgreSQL: server-sent events
// and long polls, resuming from a cursor, isolation between vaults, the LISTEN connection dying
// under it, and shutdown with streams open.
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import { eventually } from '../../../../../test/support/eventually.js';
import { type FeedEvent, openStream } from '../../../../../test/support/sse.js';
import { withTransaction } from '../../../db/pool.js';
import { createAuditWriter } from '../../../services/audit/audit-writer.js';
import type { AuthService, Principal } from '../../../services/auth/auth-service.js';
import { listEvents, recordEvent } from '../../../services/events/events-store.js';
import { createFeedHub, createPollingFeed, parseNotification } from '../../../services/events/feed.js';
import type { PolicyService } from '../../../services/policies/policy-service.js';
import { eventRoutes } from './events.js';

describe('change feed', () => {
  let api: TestApi;
  let base: string;
  let auth: Record<string, string>;
  let vaultA: string;
  let vaultB: string;

  const createVault = async (name: string) => {
    const r = await api.request({ method: 'POST', url: '/v1/vaults', payload: { name } });
    expect(r.statusCode).toBe(201);
    return (r.json() as { id: string }).id;
  };
  /** A write over real HTTP, as a client would make it. */
  const put = async (vaultId: string, path: string, value = `value-of-${path}`) => {
    const r = await fetch(`${base}/v1/vaults/${vaultId}/secrets/${path}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'password', value }),
    });
    expect(r.status).toBe(200);
    return (await r.json()) as { version: number };
  };
  const poll = (vaultId: string, query: string, headers: Record<string, string> = auth) =>
    fetch(`${base}/v1/vaults/${vaultId}/events${query}`, { headers });
  const latest = async (vaultId: string) => {
    const { rows } = await api.db.pool.query<{ id: string }>(
      'SELECT coalesce(max(id), 0)::text AS id FROM vault_events WHERE vault_id = $1',
      [vaultId],
    );
    return rows[0]?.id ?? '0';
  };

  beforeAll(async () => {
    api = await startTestApi({}, { listen: true });
    if (!api.server.url) throw new Error('not listening');
    base = api.server.url;
    auth = { authorization: `Bearer ${await api.adminToken()}` };
    vaultA = await createVault('feed-a');
    vaultB = await createVault('feed-b');
  });
  afterAll(async () => {
    await api?.close();
  });

  it('delivers a write to an open stream in well under a second, without its value', async () => {
    const s = await openStream(`${base}/v1/vaults/${vaultA}/events`, auth);
    try {
      expect(s.res.status).toBe(200);
      expect(s.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const created = await s.next();
      expect(created.event).toBe('vault.created');
      expect(created.data).toMatchObject({
        vault_id: vaultA,
        kind: 'vault.created',
        path: null,
        version: null,
      });

      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const written = put(vaultA, `live/p${i}`, `s3cr3t-live-${i}`);
        const e = await s.next(2_000);
        latencies.push(performance.now() - t0);
        expect((await written).version).toBe(1);
        expect(e.event).toBe('secret.written');
        expect(e.id).toBe(e.data.id);
        expect(e.data).toMatchObject({
          vault_id: vaultA,
          kind: 'secret.written',
          path: `live/p${i}`,
          version: 1,
        });
        expect(Object.keys(e.data).sort()).toEqual([
          'created_at',
          'id',
          'kind',
          'path',
          'vault_id',
          'version',
        ]);
        expect(e.raw).not.toContain('s3cr3t');
      }
      console.log(
        `SSE propagation (PUT start → event on stream), ms: ${latencies.map((l) => l.toFixed(1)).join(', ')}`,
      );
      for (const l of latencies) expect(l).toBeLessThan(1_000);
      expect(s.messages[0]?.comment).toBe('connected');
    } finally {
      await s.close();
    }
  });

  it('long poll: returns at once when events exist, after ~wait when none, and wakes on a write', async () => {
    let t0 = performance.now();
    let r = await poll(vaultA, '?after=0&wait=30&limit=2');
    expect(r.status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(1_000);
    const first = (await r.json()) as { events: FeedEvent[]; next_cursor: string };
    expect(first.events.map((e) => e.kind)).toEqual(['vault.created', 'secret.written']);
    expect(first.next_cursor).toBe(first.events[1]?.id);

    const cursor = await latest(vaultA);
    t0 = performance.now();
    r = await poll(vaultA, `?after=${cursor}&wait=1`);
    const waited = performance.now() - t0;
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ events: [], next_cursor: cursor });
    expect(waited).toBeGreaterThan(900);
    expect(waited).toBeLessThan(2_500);

    // Without wait: at once, empty.
    t0 = performance.now();
    r = await poll(vaultA, `?after=${cursor}`);
    expect(await r.json()).toEqual({ events: [], next_cursor: cursor });
    expect(performance.now() - t0).toBeLessThan(500);

    // A waiting poll answers as soon as a write commits.
    t0 = performance.now();
    const pending = poll(vaultA, `?after=${cursor}&wait=30`);
    await new Promise((res) => setTimeout(res, 200));
    await put(vaultA, 'poll/woken');
    r = await pending;
    const body = (await r.json()) as { events: FeedEvent[]; next_cursor: string };
    expect(performance.now() - t0).toBeLessThan(1_500);
    expect(body.events).toHaveLength(1);
    expect(body.events[0]).toMatchObject({ kind: 'secret.written', path: 'poll/woken', version: 1 });
    expect(body.next_cursor).toBe(body.events[0]?.id);
  });

  it('resuming from Last-Event-ID or a cursor misses nothing written while disconnected', async () => {
    const vault = await createVault('feed-resume');
    const s1 = await openStream(`${base}/v1/vaults/${vault}/events`, auth);
    const seen = await s1.next();
    expect(seen.event).toBe('vault.created');
    await s1.close();

    // Ids cross a power of ten mid-run, so an ordering by anything but the number would show.
    const { rows } = await api.db.pool.query<{ id: string }>(
      'SELECT last_value::text AS id FROM vault_events_id_seq',
    );
    const last = BigInt(rows[0]?.id ?? '0');
    let boundary = 100n;
    while (boundary - 10n <= last) boundary *= 10n;
    await api.db.pool.query('SELECT setval($1, $2)', ['vault_events_id_seq', String(boundary - 10n)]);
    for (let i = 0; i < 20; i++) await put(vault, `r/s${String(i).padStart(2, '0')}`);

    const s2 = await openStream(`${base}/v1/vaults/${vault}/events?after=0`, {
      ...auth,
      'last-event-id': seen.id,
    });
    try {
      const got = await s2.drain(500);
      expect(got.map((e) => e.data.path)).toEqual(
        Array.from({ length: 20 }, (_, i) => `r/s${String(i).padStart(2, '0')}`),
      );
      const ids = got.map((e) => BigInt(e.id));
      for (let i = 1; i < ids.length; i++) expect((ids[i] ?? 0n) > (ids[i - 1] ?? 0n)).toBe(true);
      expect(String(ids[0]).length).toBeLessThan(String(ids[19]).length);
      expect(got.every((e) => e.event === 'secret.written' && e.data.vault_id === vault)).toBe(true);

      // ?after does the same without the header; long polls page through with next_cursor.
      const s3 = await openStream(`${base}/v1/vaults/${vault}/events?after=${got[9]?.id}&limit=3`, auth);
      const tail = await s3.drain(500);
      await s3.close();
      expect(tail.map((e) => e.id)).toEqual(got.slice(10).map((e) => e.id));

      const paged: string[] = [];
      let cursor = seen.id;
      for (;;) {
        const page = (await (await poll(vault, `?after=${cursor}&limit=7`)).json()) as {
          events: FeedEvent[];
          next_cursor: string;
        };
        if (page.events.length === 0) break;
        paged.push(...page.events.map((e) => e.id));
        cursor = page.next_cursor;
      }
      expect(paged).toEqual(got.map((e) => e.id));
    } finally {
      await s2.close();
    }
  });

  it("keeps vaults apart: a stream sees only its vault's events", async () => {
    const sa = await openStream(`${base}/v1/vaults/${vaultA}/events?after=${await latest(vaultA)}`, auth);
    const sb = await openStream(`${base}/v1/vaults/${vaultB}/events?after=${await latest(vaultB)}`, auth);
    try {
      await put(vaultB, 'only/in-b');
      const b = await sb.next(2_000);
      expect(b.data).toMatchObject({ vault_id: vaultB, path: 'only/in-b' });
      await put(vaultA, 'only/in-a');
      const a = await sa.next(2_000);
      // A's first event is its own write: B's never reached it.
      expect(a.data).toMatchObject({ vault_id: vaultA, path: 'only/in-a' });
      expect(await sb.drain(300)).toEqual([]);
      expect(await sa.drain(100)).toEqual([]);
    } finally {
      await sa.close();
      await sb.close();
    }
  });

  it('answers 404, 400 and 401 before streaming anything', async () => {
    const unknown = randomUUID();
    for (const accept of ['application/json', 'text/event-stream']) {
      const h = { ...auth, accept };
      let r = await poll(unknown, '', h);
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not_found');
      for (const bad of ['abc', '-1', '1.5', '99999999999999999999', '9999999999999999999']) {
        r = await poll(vaultA, `?after=${bad}`, h);
        expect(r.status, `after=${bad}`).toBe(400);
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
      }
      for (const q of ['?wait=61', '?wait=-1', '?limit=0', '?limit=1001', '?bogus=1']) {
        r = await poll(vaultA, q, h);
        expect(r.status, q).toBe(400);
        await r.body?.cancel();
      }
      r = await poll(vaultA, '', { accept });
      expect(r.status).toBe(401);
      await r.body?.cancel();
      r = await poll('not-a-uuid', '', h);
      expect(r.status).toBe(400);
      await r.body?.cancel();
    }
    const r = await poll(vaultA, '', { ...auth, accept: 'text/event-stream', 'last-event-id': 'xyz' });
    expect(r.status).toBe(400);
    await r.body?.cancel();
  });

  it('recovers when the LISTEN connection is killed: nothing written meanwhile is lost', async () => {
    const listenPids = async () => {
      const { rows } = await api.db.pool.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'oneclaw-feed' AND query ILIKE 'LISTEN%'`,
      );
      return rows.map((r) => r.pid);
    };
    const before = await listenPids();
    expect(before).toHaveLength(1);

    const s = await openStream(`${base}/v1/vaults/${vaultA}/events?after=${await latest(vaultA)}`, auth);
    try {
      const { rows } = await api.db.pool.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE datname = current_database() AND query ILIKE 'LISTEN%'`,
      );
      expect(rows.map((r) => r.ok)).toEqual([true]);
      // Written while (probably) nobody listens: the reconnect's wake-up still delivers it.
      await put(vaultA, 'listen/during');
      const during = await s.next(5_000);
      expect(during.data).toMatchObject({ path: 'listen/during', kind: 'secret.written' });

      const after = await eventually('a new LISTEN connection', async () => {
        const now = await listenPids();
        return now.length === 1 && now[0] !== before[0] ? now : undefined;
      });
      expect(after).toHaveLength(1);

      const t0 = performance.now();
      await put(vaultA, 'listen/after');
      const e = await s.next(2_000);
      expect(performance.now() - t0).toBeLessThan(1_000);
      expect(e.data).toMatchObject({ path: 'listen/after', kind: 'secret.written' });
      expect(api.logs.some((l) => l.msg === 'change feed: listening again')).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('is documented in /openapi.json', async () => {
    const r = await api.request({ method: 'GET', url: '/openapi.json', token: null });
    const doc = r.json() as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string }> }>>;
    };
    const op = doc.paths['/v1/vaults/{vault_id}/events']?.get;
    expect(op).toBeDefined();
    expect(op?.parameters?.map((p) => p.name).sort()).toEqual([
      'after',
      'last-event-id',
      'limit',
      'vault_id',
      'wait',
    ]);
    expect(doc.paths['/v1/audit']?.get).toBeDefined();
    expect(doc.paths['/v1/audit/verify']?.get).toBeDefined();
  });
});

describe('change feed shutdown', () => {
  it('closing the server ends open streams and waiting polls promptly', async () => {
    const api = await startTestApi({}, { listen: true });
    const base = api.server.url ?? '';
    const auth = { authorization: `Bearer ${await api.adminToken()}` };
    const v = await api.request({ method: 'POST', url: '/v1/vaults', payload: { name: 'feed-close' } });
    const vaultId = (v.json() as { id: string }).id;
    const streams = await Promise.all(
      [1, 2, 3].map(() => openStream(`${base}/v1/vaults/${vaultId}/events`, auth)),
    );
    for (const s of streams) expect((await s.next()).event).toBe('vault.created');
    const pending = fetch(`${base}/v1/vaults/${vaultId}/events?after=999999&wait=60`, { headers: auth });
    await new Promise((r) => setTimeout(r, 200));

    const t0 = performance.now();
    await api.close();
    const took = performance.now() - t0;
    await Promise.all(streams.map((s) => s.done));
    expect(streams.every((s) => s.ended())).toBe(true);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(((await r.json()) as { events: unknown[] }).events).toEqual([]);
    expect(took).toBeLessThan(3_000);
  });
});

describe('change feed plumbing', () => {
  let api: TestApi;
  let orgId: string;
  let vaultId: string;
  beforeAll(async () => {
    api = await startTestApi();
    const { rows } = await api.db.pool.query<{ id: string }>('SELECT id FROM orgs LIMIT 1');
    orgId = rows[0]?.id ?? '';
    const v = await api.request({ method: 'POST', url: '/v1/vaults', payload: { name: 'feed-plumb' } });
    vaultId = (v.json() as { id: string }).id;
  });
  afterAll(async () => {
    await api?.close();
  });

  it('parses notification payloads strictly', () => {
    const id = randomUUID();
    expect(parseNotification(`${id}:42`)).toEqual({ vaultId: id, id: 42n });
    for (const bad of [undefined, '', '42', ':42', `${id}:`, `${id}:x`, `${id}:-1`]) {
      expect(parseNotification(bad)).toBeUndefined();
    }
  });

  it('hub: wakes a waiter on commit, times out, caps subscribers, and releases waiters on stop', async () => {
    const hub = createFeedHub({
      databaseUrl: api.db.url,
      pool: api.db.pool,
      logger: pino({ level: 'silent' }),
      maxSubscribers: 2,
    });
    await hub.start();
    try {
      expect(hub.stats()).toMatchObject({ connected: true, subscribers: 0, reconnects: 0 });
      const cursor = (await listEvents(api.db.pool, vaultId, '0', 1000)).at(-1)?.id ?? '0';

      let t0 = performance.now();
      expect(await hub.wait(vaultId, cursor, 300)).toBe(false);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290);

      t0 = performance.now();
      const woken = hub.wait(vaultId, cursor, 10_000);
      await new Promise((r) => setTimeout(r, 50));
      await withTransaction(api.db.pool, (tx) =>
        recordEvent(tx, { vaultId, kind: 'secret.written', path: 'h/x', version: 1 }),
      );
      expect(await woken).toBe(true);
      expect(performance.now() - t0).toBeLessThan(1_000);
      expect(await hub.wait(vaultId, '0', 10_000)).toBe(true); // events exist: at once

      const a = hub.subscribe(vaultId);
      const b = hub.subscribe(randomUUID());
      expect(() => hub.subscribe(vaultId)).toThrow(/too many change-feed subscribers/);
      expect(hub.stats().subscribers).toBe(2);
      b.close();
      const latest = (await listEvents(api.db.pool, vaultId, '0', 1000)).at(-1)?.id ?? '0';
      const pending = a.next(latest, { limit: 10, timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 50));
      t0 = performance.now();
      await hub.stop();
      expect(await pending).toEqual([]);
      expect(performance.now() - t0).toBeLessThan(1_000);
      expect(hub.stats()).toMatchObject({ connected: false, subscribers: 0 });
    } finally {
      await hub.stop();
    }
  });

  it('sends heartbeats, ends a stream at its maximum age, and polls without a hub', async () => {
    const app = Fastify();
    const principal: Principal = { kind: 'user', id: 'u', orgId, role: 'admin', subject: 'user:u' };
    app.decorateRequest('principal', null);
    // Every delivery re-authenticates the request's token: this one always names the admin.
    app.decorate('authz', {
      auth: { authenticate: async () => principal } as unknown as AuthService,
      policies: {} as PolicyService,
      audit: createAuditWriter({ db: api.db.pool }),
    });
    app.addHook('onRequest', async (req) => {
      req.principal = principal;
    });
    await app.register(eventRoutes, {
      feed: createPollingFeed({ pool: api.db.pool, intervalMs: 50 }),
      pool: api.db.pool,
      heartbeatMs: 100,
      maxStreamMs: 1_500,
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const t0 = performance.now();
      const s = await openStream(`${url}/v1/vaults/${vaultId}/events`, { authorization: 'Bearer t' });
      expect((await s.next()).event).toBe('vault.created');
      await api.request({
        method: 'PUT',
        url: `/v1/vaults/${vaultId}/secrets/plumb/x`,
        payload: { type: 'password', value: 'v' },
      });
      const seen = (await s.drain(1_000)).map((e) => e.data.path);
      expect(seen).toContain('plumb/x');
      await s.done;
      const age = performance.now() - t0;
      expect(age).toBeGreaterThan(1_400);
      expect(age).toBeLessThan(3_000);
      expect(s.messages.filter((m) => m.comment === 'heartbeat').length).toBeGreaterThanOrEqual(5);
    } finally {
      await app.close();
    }
  });
});
