// The SDK against a real API on a real PostgreSQL (a listening server, the global fetch): every
// namespace round-trips, errors are typed, tokens are exchanged once, refreshed on expiry and
// after a 401, and the change feed is followed and resumed. Retries, timeouts and redaction are
// shown against tiny node:http stand-ins on 127.0.0.1 that speak the API's error envelope
// `{"error": {"code", "message", "request_id"}}` (and proxy to the real API where they say so).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi, testApiForSuite } from '../../test/support/api.js';
import { rejectionOf } from '../../test/support/rejection.js';
import { type ClientOptions, createClient, type OneclawClient } from './client.js';
import { OneclawError } from './errors.js';
import type { SecretMeta, VaultEvent } from './types.js';

const vaultName = (p = 'sdk') => `${p}-${randomUUID().slice(0, 8)}`;

/** The error a promise rejects with (fails if it resolves). */
/** A fetch that records `METHOD /path` of every request, then does the real thing. */
function recordingFetch(log: string[], inner: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    log.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
    return inner(input, init);
  };
}

const exchanges = (log: string[]) => log.filter((l) => l.startsWith('POST /v1/auth/')).length;

/** Everything an error shows: message, stack, inspection and JSON. */
const everything = (err: OneclawError) =>
  [err.message, err.stack ?? '', inspect(err, { depth: 5 }), JSON.stringify(err)].join('\n');

interface StandIn {
  url: string;
  hits: string[];
  close(): Promise<void>;
}

/** A local node:http server; `handle` answers each request (hits are `METHOD /path`). */
async function standIn(
  handle: (req: IncomingMessage, res: ServerResponse, body: string, n: number) => void | Promise<void>,
): Promise<StandIn> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push(`${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`);
      void handle(req, res, Buffer.concat(chunks).toString('utf8'), hits.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers with the API's error envelope. */
function sendError(res: ServerResponse, status: number, code: string, message: string, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'standin-1', ...headers });
  res.end(JSON.stringify({ error: { code, message, request_id: 'standin-1' } }));
}

/** Forwards a request to the real API and relays its answer. */
async function proxy(target: string, req: IncomingMessage, res: ServerResponse, body: string) {
  const headers: Record<string, string> = {};
  for (const h of ['authorization', 'content-type', 'accept']) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  const upstream = await fetch(target + (req.url ?? '/'), {
    method: req.method ?? 'GET',
    headers,
    ...(body ? { body } : {}),
  });
  const text = await upstream.text();
  res.writeHead(upstream.status, {
    'content-type': upstream.headers.get('content-type') ?? 'application/json',
    'x-request-id': upstream.headers.get('x-request-id') ?? '',
  });
  res.end(text);
}

describe('SDK against a real API', () => {
  let api: TestApi;
  let baseUrl: string;
  let admin: OneclawClient;
  const client = (credentials: ClientOptions['credentials'], extra: Partial<ClientOptions> = {}) =>
    createClient({ baseUrl, credentials, ...extra });
  /** A stand-in that answers the first `count` requests with `fail` and relays the rest to the API. */
  const failingFirst = (count: number, fail: (req: IncomingMessage, res: ServerResponse) => void) =>
    standIn(async (req, res, body, n) => {
      if (n <= count) return fail(req, res);
      await proxy(baseUrl, req, res, body);
    });
  const rateLimitedOnce = () =>
    failingFirst(1, (_req, res) => sendError(res, 429, 'rate_limited', 'slow down', { 'retry-after': '1' }));

  beforeAll(async () => {
    api = await startTestApi({ ONECLAW_AUTH_RATE_LIMIT: '0' }, { listen: true });
    if (!api.server.url) throw new Error('the test API is not listening');
    baseUrl = api.server.url;
    admin = client({ apiKey: api.adminKey });
  });
  afterAll(async () => {
    await api?.close();
  });

  describe('vaults and jobs', () => {
    it('create, list, get, update, rotate the KEK, follow its job, delete and purge', async () => {
      const name = vaultName();
      const v = await admin.vaults.create({ name, description: 'made by the SDK' });
      expect(v).toMatchObject({ name, description: 'made by the SDK', custody: 'wrapped', kek_version: 1 });
      expect((await admin.vaults.list()).map((x) => x.id)).toContain(v.id);
      expect(await admin.vaults.get(v.id)).toEqual(v);
      const renamed = await admin.vaults.update(v.id, { description: 'renamed' });
      expect(renamed).toMatchObject({ id: v.id, name, description: 'renamed' });

      await admin.secrets.put(v.id, 'a/b', { type: 'password', value: 'pw' });
      const job = await admin.vaults.rotateKek(v.id);
      expect(job).toMatchObject({ kind: expect.any(String), vault_id: v.id });
      let seen = await admin.jobs.get(job.id);
      for (let i = 0; i < 100 && seen.status !== 'succeeded' && seen.status !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        seen = await admin.jobs.get(job.id);
      }
      expect(seen).toMatchObject({ id: job.id, status: 'succeeded' });
      expect((await admin.vaults.get(v.id)).kek_version).toBe(2);
      expect((await admin.secrets.get(v.id, 'a/b')).value).toBe('pw');

      await admin.vaults.delete(v.id);
      const gone = await rejectionOf(admin.vaults.get(v.id), OneclawError);
      expect(gone).toMatchObject({ status: 404, code: 'not_found', requestId: expect.any(String) });

      const purged = await admin.vaults.create({ name: vaultName() });
      await admin.secrets.put(purged.id, 'x', { type: 'note', value: 'shred me' });
      await admin.vaults.delete(purged.id, { purge: true });
      expect((await rejectionOf(admin.vaults.get(purged.id), OneclawError)).status).toBe(404);
    });
  });

  describe('secrets', () => {
    let vaultId: string;
    beforeAll(async () => {
      vaultId = (await admin.vaults.create({ name: vaultName() })).id;
    });

    it('writes versions, reads latest and by version, with metadata and check-and-set', async () => {
      const v1 = await admin.secrets.put(vaultId, 'app/db/password', {
        type: 'password',
        value: 'one',
        metadata: { owner: 'team-a' },
        cas: 0,
      });
      expect(v1).toMatchObject({ path: 'app/db/password', version: 1, created_at: expect.any(String) });
      const v2 = await admin.secrets.put(vaultId, 'app/db/password', {
        type: 'password',
        value: 'two',
        cas: 1,
      });
      expect(v2.version).toBe(2);

      const latest = await admin.secrets.get(vaultId, 'app/db/password');
      expect(latest).toMatchObject({ path: 'app/db/password', type: 'password', value: 'two', version: 2 });
      expect(latest).toMatchObject({ metadata: {}, expires_at: null, cmek_encrypted: false });
      const first = await admin.secrets.get(vaultId, 'app/db/password', { version: 1 });
      expect(first).toMatchObject({ value: 'one', version: 1, metadata: { owner: 'team-a' } });

      const conflict = await rejectionOf(
        admin.secrets.put(vaultId, 'app/db/password', { type: 'password', value: 'three', cas: 1 }),
        OneclawError,
      );
      expect(conflict).toMatchObject({ status: 409, code: 'conflict', requestId: expect.any(String) });

      const versions = await admin.secrets.versions(vaultId, 'app/db/password');
      expect(versions.map((x) => x.version).sort()).toEqual([1, 2]);
      expect(versions[0]).toMatchObject({
        type: 'password',
        created_by: expect.any(String),
        access_count: expect.any(Number),
        destroyed: false,
      });
    });

    it('lists page by page with a cursor, and listAll walks every page', async () => {
      const paths = Array.from({ length: 7 }, (_, i) => `pages/item-${i}`);
      for (const p of paths) await admin.secrets.put(vaultId, p, { type: 'note', value: `v-${p}` });
      await admin.secrets.put(vaultId, 'elsewhere/x', { type: 'note', value: 'x' });

      const seen: SecretMeta[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await admin.secrets.list(vaultId, {
          prefix: 'pages',
          limit: 2,
          ...(cursor ? { cursor } : {}),
        });
        expect(page.secrets.length).toBeLessThanOrEqual(2);
        seen.push(...page.secrets);
        cursor = page.next_cursor ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBeGreaterThanOrEqual(4);
      expect(seen.map((s) => s.path).sort()).toEqual(paths);
      expect(seen.every((s) => !('value' in s))).toBe(true);

      const all: string[] = [];
      for await (const s of admin.secrets.listAll(vaultId, { prefix: 'pages', pageSize: 2 }))
        all.push(s.path);
      expect(all.sort()).toEqual(paths);
      const everything: string[] = [];
      for await (const s of admin.secrets.listAll(vaultId)) everything.push(s.path);
      expect(everything).toEqual(expect.arrayContaining([...paths, 'elsewhere/x']));
    });

    it('soft-deletes, then destroys every version', async () => {
      await admin.secrets.put(vaultId, 'tmp/one', { type: 'note', value: 'a' });
      await admin.secrets.put(vaultId, 'tmp/one', { type: 'note', value: 'b' });
      await admin.secrets.delete(vaultId, 'tmp/one');
      expect((await rejectionOf(admin.secrets.get(vaultId, 'tmp/one'), OneclawError)).status).toBe(404);
      // Writing to a soft-deleted path undeletes it with the next version.
      expect((await admin.secrets.put(vaultId, 'tmp/one', { type: 'note', value: 'c' })).version).toBe(3);

      await admin.secrets.put(vaultId, 'tmp/two', { type: 'note', value: 'c' });
      await admin.secrets.delete(vaultId, 'tmp/two', { destroy: true });
      expect(await rejectionOf(admin.secrets.get(vaultId, 'tmp/two'), OneclawError)).toMatchObject({
        status: 404,
        code: 'not_found',
      });
      // A new write starts a fresh version; the destroyed one answers 410 and keeps its metadata.
      expect((await admin.secrets.put(vaultId, 'tmp/two', { type: 'note', value: 'd' })).version).toBe(2);
      expect(
        await rejectionOf(admin.secrets.get(vaultId, 'tmp/two', { version: 1 }), OneclawError),
      ).toMatchObject({
        status: 410,
        code: 'gone',
      });
      const versions = await admin.secrets.versions(vaultId, 'tmp/two');
      expect(versions.map((x) => [x.version, x.destroyed])).toEqual([
        [1, true],
        [2, false],
      ]);
    });

    it('encodes each path segment and refuses segments that would change the route', async () => {
      const bad = await rejectionOf(
        admin.secrets.put(vaultId, 'a b/c?d', { type: 'note', value: 'x' }),
        OneclawError,
      );
      expect(bad).toMatchObject({ status: 400, code: 'invalid_request' });
      for (const p of ['../../../users', 'a//b', '', 'a/.']) {
        const refused = await rejectionOf(admin.secrets.get(vaultId, p), OneclawError);
        expect(refused).toMatchObject({ status: 0, code: 'invalid_request' });
      }
      expect((await rejectionOf(admin.vaults.get('..'), OneclawError)).code).toBe('invalid_request');
    });

    it('answers 400 with invalid_request and 404 with not_found, typed', async () => {
      const invalid = await rejectionOf(
        admin.secrets.put(vaultId, 'x/y', { type: 'bogus' as 'note', value: 'v' }),
        OneclawError,
      );
      expect(invalid).toMatchObject({ status: 400, code: 'invalid_request', requestId: expect.any(String) });
      const missing = await rejectionOf(admin.secrets.get(vaultId, 'no/such/secret'), OneclawError);
      expect(missing).toMatchObject({ status: 404, code: 'not_found', requestId: expect.any(String) });
      expect(missing.name).toBe('OneclawError');
      expect(missing).toBeInstanceOf(Error);
      const noVault = await rejectionOf(admin.vaults.get(randomUUID()), OneclawError);
      expect(noVault).toMatchObject({ status: 404, code: 'not_found' });
    });
  });

  describe('agents, policies and users', () => {
    it('an agent authenticates with its id and key, gets exactly its grants, and is rotated and deleted', async () => {
      const vault = await admin.vaults.create({ name: vaultName() });
      await admin.secrets.put(vault.id, 'app/key', { type: 'api_key', value: 'agent-visible' });
      await admin.secrets.put(vault.id, 'other/key', { type: 'api_key', value: 'not-for-agents' });

      const { agent, api_key } = await admin.agents.create({ name: vaultName('agent'), description: 'ci' });
      expect(api_key).toMatch(/^ocv_/);
      expect(agent).toMatchObject({ description: 'ci', disabled: false, expires_at: null });
      expect((await admin.agents.list()).map((a) => a.id)).toContain(agent.id);
      expect(await admin.agents.get(agent.id)).toEqual(agent);
      expect(await admin.agents.update(agent.id, { description: 'ci runner' })).toMatchObject({
        id: agent.id,
        description: 'ci runner',
      });

      const asAgent = client({ agentId: agent.id, apiKey: api_key });
      expect((await asAgent.token()).split('.')).toHaveLength(3);
      const denied = await rejectionOf(asAgent.secrets.get(vault.id, 'app/key'), OneclawError);
      expect(denied).toMatchObject({ status: 403, code: 'forbidden', requestId: expect.any(String) });
      expect((await rejectionOf(asAgent.vaults.create({ name: vaultName() }), OneclawError)).code).toBe(
        'admin_required',
      );

      const policy = await admin.policies.create(vault.id, {
        principal_type: 'agent',
        principal_id: agent.id,
        secret_path_pattern: 'app/**',
        permissions: ['read', 'list'],
        conditions: { ip_cidrs: ['127.0.0.0/8', '::1/128'] },
      });
      expect(policy).toMatchObject({
        vault_id: vault.id,
        principal_type: 'agent',
        principal_id: agent.id,
        permissions: ['read', 'list'],
        conditions: { ip_cidrs: ['127.0.0.0/8', '::1/128'] },
        expires_at: null,
      });
      expect((await admin.policies.list(vault.id)).map((p) => p.id)).toEqual([policy.id]);
      expect((await asAgent.secrets.get(vault.id, 'app/key')).value).toBe('agent-visible');
      expect((await rejectionOf(asAgent.secrets.get(vault.id, 'other/key'), OneclawError)).code).toBe(
        'forbidden',
      );
      expect((await asAgent.secrets.list(vault.id)).secrets.map((s) => s.path)).toEqual(['app/key']);
      expect((await asAgent.vaults.list()).map((v) => v.id)).toEqual([vault.id]);

      // Rotation: the old key's token is refused (principal_revoked), the one refresh fails
      // (the old key is gone) and that failure is what the caller sees.
      const rotated = await admin.agents.rotateKey(agent.id);
      expect(rotated.api_key).not.toBe(api_key);
      const revoked = await rejectionOf(asAgent.secrets.get(vault.id, 'app/key'), OneclawError);
      expect(revoked.status).toBe(401);
      const asRotated = client({ agentId: agent.id, apiKey: rotated.api_key });
      expect((await asRotated.secrets.get(vault.id, 'app/key')).value).toBe('agent-visible');

      await admin.policies.delete(vault.id, policy.id);
      expect(await admin.policies.list(vault.id)).toEqual([]);
      expect((await rejectionOf(asRotated.secrets.get(vault.id, 'app/key'), OneclawError)).code).toBe(
        'forbidden',
      );

      await admin.agents.delete(agent.id);
      expect((await rejectionOf(admin.agents.get(agent.id), OneclawError)).status).toBe(404);
      expect((await rejectionOf(asRotated.vaults.list(), OneclawError)).status).toBe(401);
    });

    it('users: create, list, change role, rotate; a disabled user gets principal_revoked after one refresh', async () => {
      const { user, api_key } = await admin.users.create({ name: vaultName('user'), role: 'member' });
      expect(api_key).toMatch(/^ocu_/);
      expect(user).toMatchObject({ role: 'member', disabled: false });
      expect((await admin.users.list()).map((u) => u.id)).toContain(user.id);

      const log: string[] = [];
      const asUser = client({ apiKey: api_key }, { fetch: recordingFetch(log) });
      expect(await asUser.vaults.list()).toEqual([]);
      expect((await rejectionOf(asUser.vaults.create({ name: vaultName() }), OneclawError)).code).toBe(
        'admin_required',
      );
      expect(await admin.users.update(user.id, { role: 'admin' })).toMatchObject({
        id: user.id,
        role: 'admin',
      });
      expect((await asUser.vaults.create({ name: vaultName() })).id).toEqual(expect.any(String));
      expect(exchanges(log)).toBe(1);

      expect(await admin.users.update(user.id, { disabled: true })).toMatchObject({ disabled: true });
      log.length = 0;
      const refused = await rejectionOf(asUser.vaults.list(), OneclawError);
      expect(refused).toMatchObject({ status: 401, code: 'principal_revoked' });
      // The request, one exchange (refused too), and no further attempts: no loop.
      expect(log).toEqual(['GET /v1/vaults', 'POST /v1/auth/token']);

      await admin.users.update(user.id, { disabled: false });
      expect(Array.isArray(await asUser.vaults.list())).toBe(true);
      const rotated = await admin.users.rotateKey(user.id);
      expect(rotated.user.id).toBe(user.id);
      expect(rotated.api_key).toMatch(/^ocu_/);
      const old = await rejectionOf(asUser.vaults.list(), OneclawError);
      expect(old.status).toBe(401);
      expect(Array.isArray(await client({ apiKey: rotated.api_key }).vaults.list())).toBe(true);
    });
  });

  describe('tokens', () => {
    it('concurrent callers share one exchange; the token is cached', async () => {
      const log: string[] = [];
      const c = client({ apiKey: api.adminKey }, { fetch: recordingFetch(log) });
      await Promise.all(Array.from({ length: 10 }, () => c.vaults.list()));
      await c.vaults.list();
      expect(exchanges(log)).toBe(1);
      expect(await c.token()).toEqual(await c.token());
    });

    it('keeps a still-valid token when an early refresh fails for a passing reason', async () => {
      // The first exchange claims a 4 s lifetime (refresh due after 2 s, usable for 3 s); every
      // later exchange answers 503 in the API's envelope. The server's token really lives 15 min.
      const log: string[] = [];
      let exchangesSeen = 0;
      const flaky: typeof fetch = async (input, init) => {
        if (!String(input).endsWith('/v1/auth/token')) return fetch(input, init);
        if (exchangesSeen++ > 0) {
          return new Response(
            JSON.stringify({
              error: { code: 'database_unavailable', message: 'retry later', request_id: 'r1' },
            }),
            { status: 503, headers: { 'content-type': 'application/json' } },
          );
        }
        const res = await fetch(input, init);
        const body = (await res.json()) as Record<string, unknown>;
        return new Response(JSON.stringify({ ...body, expires_in: 4 }), { status: 200 });
      };
      const c = client({ apiKey: api.adminKey }, { fetch: recordingFetch(log, flaky), retries: 0 });
      const first = await c.token();
      await new Promise((r) => setTimeout(r, 2_100));
      expect(Array.isArray(await c.vaults.list())).toBe(true); // the refresh failed; the token held
      expect(Array.isArray(await c.vaults.list())).toBe(true); // and no new attempt at once
      expect(await c.token()).toBe(first);
      expect(exchanges(log)).toBe(2);
      await new Promise((r) => setTimeout(r, 1_000));
      // Past what it may be used for: the exchange's error is the caller's.
      expect(await rejectionOf(c.vaults.list(), OneclawError)).toMatchObject({
        status: 503,
        code: 'database_unavailable',
      });
    });

    it('uses an access token as it is, without refreshing it', async () => {
      const log: string[] = [];
      const c = client({ accessToken: await admin.token() }, { fetch: recordingFetch(log) });
      expect(Array.isArray(await c.vaults.list())).toBe(true);
      expect(exchanges(log)).toBe(0);
      const bad = client({ accessToken: 'not-a-token' });
      expect(await rejectionOf(bad.vaults.list(), OneclawError)).toMatchObject({
        status: 401,
        code: 'invalid_token',
      });
    });
  });

  describe('audit', () => {
    it('lists records of a vault page by page and verifies the chain', async () => {
      const v = await admin.vaults.create({ name: vaultName() });
      await admin.secrets.put(v.id, 'a', { type: 'note', value: 'audited' });
      await admin.secrets.get(v.id, 'a');
      const page = await admin.audit.list({ vault_id: v.id, limit: 1 });
      expect(page.events).toHaveLength(1);
      const next = await admin.audit.list({ vault_id: v.id, after: page.next_cursor, limit: 100 });
      const actions = [...page.events, ...next.events].map((e) => e.action);
      expect(actions.length).toBeGreaterThanOrEqual(3);
      expect(page.events[0]).toMatchObject({ vault_id: v.id, decision: 'allow', hash: expect.any(String) });
      expect(JSON.stringify([page, next])).not.toContain('audited');
      const verified = await admin.audit.verify();
      expect(verified).toMatchObject({ ok: true, checked: expect.any(Number) });
    });
  });

  describe('events', () => {
    it('follow receives a write made after it started, and resumes from a cursor', async () => {
      const v = await admin.vaults.create({ name: vaultName() });
      const start = await admin.events.poll(v.id, { limit: 1000 });
      expect(start.events.map((e) => e.kind)).toContain('vault.created');

      const ac = new AbortController();
      const it = admin.events
        .follow(v.id, { after: start.next_cursor, signal: ac.signal })
        [Symbol.asyncIterator]();
      const first = it.next();
      await new Promise((r) => setTimeout(r, 300)); // the long poll is waiting by now
      const t0 = Date.now();
      await admin.secrets.put(v.id, 'feed/one', { type: 'note', value: 'never in an event' });
      const got = await first;
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(got.done).toBe(false);
      const e1 = got.value as VaultEvent;
      expect(e1).toMatchObject({ vault_id: v.id, kind: 'secret.written', path: 'feed/one', version: 1 });
      expect(JSON.stringify(e1)).not.toContain('never in an event');

      // Aborting ends the iteration without an error, also while a poll is waiting.
      const pending = it.next();
      ac.abort();
      expect(await pending).toEqual({ done: true, value: undefined });

      await admin.secrets.put(v.id, 'feed/two', { type: 'note', value: 'x' });
      const ac2 = new AbortController();
      const resumed: VaultEvent[] = [];
      for await (const e of admin.events.follow(v.id, { after: e1.id, signal: ac2.signal })) {
        resumed.push(e);
        ac2.abort();
      }
      expect(resumed.map((e) => [e.kind, e.path])).toEqual([['secret.written', 'feed/two']]);
    });

    it('poll waits up to `wait` seconds and answers with the cursor it was given when nothing happened', async () => {
      const v = await admin.vaults.create({ name: vaultName() });
      const start = await admin.events.poll(v.id);
      const t0 = Date.now();
      const idle = await admin.events.poll(v.id, { after: start.next_cursor, wait: 1 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(idle).toEqual({ events: [], next_cursor: start.next_cursor });

      const ac = new AbortController();
      const p = admin.events.poll(v.id, { after: start.next_cursor, wait: 30, signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      expect(await rejectionOf(p, OneclawError)).toMatchObject({ status: 0, code: 'aborted' });
    });

    it('follow outlives 503s and dropped connections, backing off, and carries on from its cursor', async () => {
      const v = await admin.vaults.create({ name: vaultName() });
      const start = await admin.events.poll(v.id);
      // Stands in for the API (its error envelope) on the first two event polls, then proxies.
      let polls = 0;
      const s = await standIn(async (req, res, body) => {
        if (req.url?.includes('/events') && ++polls <= 2) {
          if (polls === 1) return sendError(res, 503, 'database_unavailable', 'retry later');
          return void req.socket.destroy();
        }
        await proxy(baseUrl, req, res, body);
      });
      try {
        const c = client({ accessToken: await admin.token() }, { baseUrl: s.url, retries: 0 });
        const ac = new AbortController();
        const got: VaultEvent[] = [];
        const done = (async () => {
          for await (const e of c.events.follow(v.id, { after: start.next_cursor, signal: ac.signal })) {
            got.push(e);
            ac.abort();
          }
        })();
        await new Promise((r) => setTimeout(r, 200));
        await admin.secrets.put(v.id, 'through/outage', { type: 'note', value: 'x' });
        await done;
        expect(got.map((e) => [e.kind, e.path])).toEqual([['secret.written', 'through/outage']]);
        expect(polls).toBeGreaterThanOrEqual(3);
      } finally {
        await s.close();
      }
    });

    it('follow surfaces errors it cannot outlive (a vault that does not exist)', async () => {
      const ac = new AbortController();
      const iter = admin.events.follow(randomUUID(), { signal: ac.signal })[Symbol.asyncIterator]();
      expect(await rejectionOf(iter.next(), OneclawError)).toMatchObject({ status: 404, code: 'not_found' });
    });
  });

  describe('retries, timeouts and redaction', () => {
    it('retries GET on 503 (twice) and succeeds; never retries a POST on 503', async () => {
      const s = await failingFirst(2, (_req, res) =>
        sendError(res, 503, 'kms_unavailable', 'the KMS is unavailable; retry later'),
      );
      try {
        const c = client({ accessToken: await admin.token() }, { baseUrl: s.url });
        const t0 = Date.now();
        expect(Array.isArray(await c.vaults.list())).toBe(true);
        expect(s.hits).toEqual(['GET /v1/vaults', 'GET /v1/vaults', 'GET /v1/vaults']);
        expect(Date.now() - t0).toBeLessThan(3_000);

        const post = await standIn((_req, res) => sendError(res, 503, 'database_unavailable', 'retry later'));
        try {
          const p = client({ accessToken: 't' }, { baseUrl: post.url });
          const err = await rejectionOf(p.vaults.create({ name: 'x' }), OneclawError);
          expect(err).toMatchObject({ status: 503, code: 'database_unavailable', requestId: 'standin-1' });
          expect(post.hits).toEqual(['POST /v1/vaults']);
          // An idempotent request gives up after `retries`.
          const g = client({ accessToken: 't' }, { baseUrl: post.url, retries: 1 });
          expect((await rejectionOf(g.vaults.list(), OneclawError)).status).toBe(503);
          expect(post.hits.length).toBe(3);
        } finally {
          await post.close();
        }
      } finally {
        await s.close();
      }
    });

    it('retries a POST on 429 after Retry-After (the rate limiter refused it: nothing was done)', async () => {
      const s = await rateLimitedOnce();
      try {
        const c = client({ accessToken: await admin.token() }, { baseUrl: s.url });
        const name = vaultName();
        const t0 = Date.now();
        expect(await c.vaults.create({ name })).toMatchObject({ name });
        expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
        expect(s.hits).toEqual(['POST /v1/vaults', 'POST /v1/vaults']);
        // Once: the one vault exists.
        expect((await admin.vaults.list()).filter((v) => v.name === name)).toHaveLength(1);
      } finally {
        await s.close();
      }
      // A 429 that never ends: `retries` bounds it, then the 429 is the caller's.
      const busy = await standIn((_req, res) => sendError(res, 429, 'rate_limited', 'slow down'));
      try {
        const c = client({ accessToken: 't' }, { baseUrl: busy.url, retries: 1 });
        const err = await rejectionOf(c.agents.create({ name: 'x' }), OneclawError);
        expect(err).toMatchObject({ status: 429, code: 'rate_limited' });
        expect(busy.hits).toEqual(['POST /v1/agents', 'POST /v1/agents']);
      } finally {
        await busy.close();
      }
    });

    it('honours Retry-After on 429, also for the token exchange', async () => {
      const s = await rateLimitedOnce();
      try {
        const c = client({ apiKey: api.adminKey }, { baseUrl: s.url });
        const t0 = Date.now();
        expect(Array.isArray(await c.vaults.list())).toBe(true);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
        expect(s.hits).toEqual(['POST /v1/auth/token', 'POST /v1/auth/token', 'GET /v1/vaults']);
      } finally {
        await s.close();
      }
    });

    it('retries connection failures of idempotent requests', async () => {
      const s = await failingFirst(2, (req) => void req.socket.destroy());
      try {
        const c = client({ accessToken: await admin.token() }, { baseUrl: s.url });
        expect(Array.isArray(await c.vaults.list())).toBe(true);
        expect(s.hits).toHaveLength(3);
      } finally {
        await s.close();
      }
      const closed = client({ accessToken: 't' }, { baseUrl: s.url, retries: 1 });
      const err = await rejectionOf(closed.vaults.list(), OneclawError);
      expect(err).toMatchObject({ status: 0, code: 'network_error', requestId: undefined });
      expect(err.message).toContain('GET /v1/vaults');
    });

    it('times out a request that never gets an answer, within timeoutMs', async () => {
      const s = await standIn(() => {
        /* never answers */
      });
      try {
        const c = client({ accessToken: 'a-token-value' }, { baseUrl: s.url, timeoutMs: 300 });
        const t0 = Date.now();
        const err = await rejectionOf(c.vaults.list(), OneclawError);
        const took = Date.now() - t0;
        expect(err).toMatchObject({ status: 0, code: 'timeout' });
        expect(took).toBeGreaterThanOrEqual(280);
        expect(took).toBeLessThan(1_000);
        expect(s.hits).toHaveLength(1); // a timeout is not retried
        expect(everything(err)).not.toContain('a-token-value');
      } finally {
        await s.close();
      }
    });

    it('never shows an API key, a token or a secret value in an error', async () => {
      // The real API: a wrong key, a value over the size limit, a refused value.
      const wrongKey = `ocu_${'k'.repeat(16)}${'Z'.repeat(43)}`;
      const bad = await rejectionOf(client({ apiKey: wrongKey }).vaults.list(), OneclawError);
      expect(bad).toMatchObject({ status: 401, code: 'invalid_credentials' });
      expect(everything(bad)).not.toContain(wrongKey);

      const v = await admin.vaults.create({ name: vaultName() });
      const huge = `TOP-SECRET-${'s'.repeat(70_000)}`;
      const tooBig = await rejectionOf(
        admin.secrets.put(v.id, 'big', { type: 'note', value: huge }),
        OneclawError,
      );
      expect([400, 413]).toContain(tooBig.status);
      expect(everything(tooBig)).not.toContain('TOP-SECRET');
      const token = await admin.token();
      expect(everything(tooBig)).not.toContain(token);

      // A stand-in that echoes what it was sent into its message: the SDK scrubs it.
      const s = await standIn((req, res, body) =>
        sendError(res, 400, 'invalid_request', `you sent ${body} with ${req.headers.authorization ?? ''}`),
      );
      try {
        const c = client({ accessToken: 'bearer-token-abc' }, { baseUrl: s.url });
        const echoed = await rejectionOf(
          c.secrets.put(v.id, 'p', { type: 'password', value: 'hunter2-value' }),
          OneclawError,
        );
        expect(echoed.message).toContain('[redacted]');
        expect(everything(echoed)).not.toContain('hunter2-value');
        expect(everything(echoed)).not.toContain('bearer-token-abc');
        const k = client({ apiKey: 'ocu_user-key-value' }, { baseUrl: s.url });
        const exchange = await rejectionOf(k.vaults.list(), OneclawError);
        expect(everything(exchange)).not.toContain('ocu_user-key-value');
      } finally {
        await s.close();
      }
    });
  });
});

describe('SDK token refresh on a 2-second token lifetime', () => {
  const api = testApiForSuite(
    { ONECLAW_AUTH_RATE_LIMIT: '0', ONECLAW_TOKEN_TTL_SECONDS: '2' },
    { listen: true },
  );

  it('exchanges again before the token expires, across the expiry', async () => {
    const log: string[] = [];
    const c = createClient({
      baseUrl: api().server.url ?? '',
      credentials: { apiKey: api().adminKey },
      fetch: recordingFetch(log),
    });
    const v = await c.vaults.create({ name: vaultName() });
    const first = await c.token();
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await c.vaults.get(v.id)).id).toBe(v.id);
    expect(await c.token()).not.toBe(first);
    expect(exchanges(log)).toBeGreaterThanOrEqual(2);
    // No request was refused along the way: refreshed before expiry, not after a 401.
    expect(log.filter((l) => !l.startsWith('POST /v1/auth/'))).toEqual([
      'POST /v1/vaults',
      `GET /v1/vaults/${v.id}`,
    ]);
  });

  it('an agent key: exchanges again at /v1/auth/agent-token across the expiry', async () => {
    const admin = createClient({ baseUrl: api().server.url ?? '', credentials: { apiKey: api().adminKey } });
    const vault = await admin.vaults.create({ name: vaultName() });
    await admin.secrets.put(vault.id, 'app/key', { type: 'api_key', value: 'for-the-agent' });
    const { agent, api_key } = await admin.agents.create({ name: vaultName('agent') });
    await admin.policies.create(vault.id, {
      principal_type: 'agent',
      principal_id: agent.id,
      secret_path_pattern: 'app/**',
      permissions: ['read'],
    });

    const log: string[] = [];
    const statuses: number[] = [];
    const watching: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      statuses.push(res.status);
      return res;
    };
    const asAgent = createClient({
      baseUrl: api().server.url ?? '',
      credentials: { agentId: agent.id, apiKey: api_key },
      fetch: recordingFetch(log, watching),
    });
    expect((await asAgent.secrets.get(vault.id, 'app/key')).value).toBe('for-the-agent');
    const first = await asAgent.token();
    await new Promise((r) => setTimeout(r, 2_500)); // the first token has expired
    expect((await asAgent.secrets.get(vault.id, 'app/key')).value).toBe('for-the-agent');
    expect(await asAgent.token()).not.toBe(first);
    const path = `/v1/vaults/${vault.id}/secrets/app/key`;
    expect(log).toEqual([
      'POST /v1/auth/agent-token',
      `GET ${path}`,
      'POST /v1/auth/agent-token',
      `GET ${path}`,
    ]);
    expect(statuses).not.toContain(401);
  });

  it('uses an initialToken until it is due, then exchanges the credentials', async () => {
    const { access_token, expires_in } = (await (
      await fetch(`${api().server.url}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ api_key: api().adminKey }),
      })
    ).json()) as { access_token: string; expires_in: number };
    const log: string[] = [];
    const c = createClient({
      baseUrl: api().server.url ?? '',
      credentials: { apiKey: api().adminKey },
      initialToken: { accessToken: access_token, expiresAt: new Date(Date.now() + expires_in * 1000) },
      fetch: recordingFetch(log),
    });
    expect(Array.isArray(await c.vaults.list())).toBe(true);
    expect(await c.token()).toBe(access_token);
    expect(exchanges(log)).toBe(0);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(Array.isArray(await c.vaults.list())).toBe(true);
    expect(await c.token()).not.toBe(access_token);
    expect(log).toEqual(['GET /v1/vaults', 'POST /v1/auth/token', 'GET /v1/vaults']);
  });

  it('after a 401 token_expired, exchanges once and repeats the request', async () => {
    // A clock that believes the token lives an hour: only the server knows it expired.
    const log: string[] = [];
    const statuses: number[] = [];
    const lying: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/v1/auth/token')) {
        statuses.push(res.status);
        return res;
      }
      const body = (await res.json()) as Record<string, unknown>;
      return new Response(JSON.stringify({ ...body, expires_in: 3600 }), {
        status: res.status,
        headers: res.headers,
      });
    };
    const c = createClient({
      baseUrl: api().server.url ?? '',
      credentials: { apiKey: api().adminKey },
      fetch: recordingFetch(log, lying),
    });
    const v = await c.vaults.create({ name: vaultName() });
    await new Promise((r) => setTimeout(r, 2_500));
    await c.secrets.put(v.id, 'after/expiry', { type: 'note', value: 'ok' });
    expect((await c.secrets.get(v.id, 'after/expiry')).value).toBe('ok');
    expect(statuses).toEqual([201, 401, 200, 200]);
    expect(exchanges(log)).toBe(2);
  });
});
