// The authorization matrix: who may do what, decided on every request from grants (path globs,
// permissions, expiry, client address, time window) and from the caller's identity (users,
// agents, Kubernetes service accounts with tokens minted by the real TokenRequest API and
// checked by TokenReview). Every denial is a 401 or 403 with a reason code, names only what
// the caller asked for, and reads the same whether or not the secret exists.
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/api.js';
import {
  createAgent,
  createUser,
  createVault,
  expectError,
  secretUrl,
  tokenFor,
  writeSecret,
} from '../../../test/support/api-helpers.js';
import { sharedPeer } from '../../../test/support/fixtures.js';
import { type KubeIdentities, kubeIdentities } from '../../../test/support/kube-identity.js';

type Method = 'GET' | 'PUT' | 'DELETE' | 'POST';

interface Case {
  name: string;
  who: string;
  method: Method;
  url: () => string;
  payload?: object;
  headers?: Record<string, string>;
  remoteAddress?: string;
  status: number;
  code?: string;
}

const hhmm = (d: Date) => d.toISOString().slice(11, 16);

describe('authorization matrix', () => {
  let api: TestApi;
  let kube: KubeIdentities;
  let v1: string;
  let v2: string;
  const tokens: Record<string, string> = {};
  const SECRET = `matrix-secret-${randomUUID()}`;

  const grant = async (vaultId: string, body: Record<string, unknown>) => {
    const res = await api.request({ method: 'POST', url: `/v1/vaults/${vaultId}/policies`, payload: body });
    expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 201 });
  };
  const k8sExchange = (token: string) =>
    api.request({ method: 'POST', url: '/v1/auth/k8s-token', payload: { token }, token: null });

  beforeAll(async () => {
    const kubeInfo = await sharedPeer('kube');
    kube = await kubeIdentities(kubeInfo, 'authz');
    api = await startTestApi({
      ONECLAW_K8S_AUTH: 'tokenreview',
      ONECLAW_K8S_KUBECONFIG: kubeInfo.kubeconfig,
      ONECLAW_K8S_AUDIENCE: 'oneclaw',
      // Requests from 127.0.0.1 may name the client in X-Forwarded-For; others may not.
      ONECLAW_TRUSTED_PROXIES: '127.0.0.1',
      ONECLAW_AUTH_RATE_LIMIT: '0',
    });
    v1 = (await createVault(api)).id;
    v2 = (await createVault(api)).id;
    for (const path of [
      'app/db/password',
      'app/db/user',
      'app/api/key',
      'app/deep/a/b/c',
      'other/x',
      'ops/night/x',
    ]) {
      await writeSecret(api, v1, path, `${SECRET}-${path}`);
    }
    await writeSecret(api, v2, 'app/db/password', `${SECRET}-v2`);

    const member = await createUser(api, 'member');
    tokens.member = await tokenFor(api, member.apiKey);
    const agent = await createAgent(api, { name: `a-${randomUUID().slice(0, 8)}` });
    const disabled = await createAgent(api, { name: `d-${randomUUID().slice(0, 8)}` });
    const agentToken = async (a: { agent: { id: string }; api_key: string }) => {
      const res = await api.request({
        method: 'POST',
        url: '/v1/auth/agent-token',
        payload: { agent_id: a.agent.id, api_key: a.api_key },
        token: null,
      });
      expect(res.statusCode).toBe(200);
      return (res.json() as { access_token: string }).access_token;
    };
    tokens.agent = await agentToken(agent);
    tokens.disabledAgent = await agentToken(disabled);

    await kube.createServiceAccount('reader');
    await kube.createServiceAccount('ipv6');
    await kube.createServiceAccount('ungranted');
    await kube.createServiceAccount('doomed');
    for (const sa of ['reader', 'ipv6', 'ungranted']) {
      const res = await k8sExchange(await kube.mint(sa, ['oneclaw']));
      expect({ sa, status: res.statusCode, body: res.body }).toMatchObject({ status: 200 });
      tokens[sa] = (res.json() as { access_token: string }).access_token;
    }
    tokens.doomedK8s = await kube.mint('doomed', ['oneclaw']);
    tokens.otherAudienceK8s = await kube.mint('reader', ['someone-else']);
    await kube.deleteServiceAccount('doomed');

    const now = new Date();
    const user = { principal_type: 'user', principal_id: member.userId };
    const ag = { principal_type: 'agent', principal_id: agent.agent.id };
    const sa = (name: string) => ({
      principal_type: 'k8s_service_account',
      principal_id: kube.username(name),
    });
    await grant(v1, { ...user, secret_path_pattern: 'app/*/password', permissions: ['read'] });
    await grant(v1, { ...user, secret_path_pattern: 'app/**', permissions: ['list'] });
    await grant(v1, {
      ...user,
      secret_path_pattern: 'app/api/key',
      permissions: ['read'],
      // A two-hour window twelve hours away: never now.
      conditions: {
        time_window: {
          start: hhmm(new Date(now.getTime() + 12 * 3600_000)),
          end: hhmm(new Date(now.getTime() + 14 * 3600_000)),
          tz: 'UTC',
        },
      },
    });
    await grant(v1, {
      ...user,
      secret_path_pattern: 'app/deep/**',
      permissions: ['read'],
      conditions: {
        time_window: {
          // Now ± 1 h in Kolkata's local time (UTC+05:30, no DST).
          start: hhmm(new Date(now.getTime() + 330 * 60_000 - 3600_000)),
          end: hhmm(new Date(now.getTime() + 330 * 60_000 + 3600_000)),
          tz: 'Asia/Kolkata',
        },
      },
    });
    await grant(v1, { ...ag, secret_path_pattern: 'app/**', permissions: ['read', 'write'] });
    await grant(v1, { ...ag, secret_path_pattern: 'app/api/*', permissions: ['delete'] });
    await grant(v1, {
      ...ag,
      secret_path_pattern: 'other/*',
      permissions: ['read'],
      conditions: { ip_cidrs: ['10.0.0.0/8', '2001:db8::/32'] },
    });
    await grant(v1, {
      ...ag,
      secret_path_pattern: 'ops/**',
      permissions: ['read'],
      expires_at: new Date(now.getTime() - 60_000).toISOString(),
    });
    await grant(v1, {
      ...sa('reader'),
      secret_path_pattern: 'app/db/*',
      permissions: ['read', 'list'],
      conditions: { ip_cidrs: ['127.0.0.0/8'] },
    });
    await grant(v1, {
      ...sa('ipv6'),
      secret_path_pattern: 'app/db/user',
      permissions: ['read'],
      conditions: { ip_cidrs: ['::1/128'] },
    });
    await grant(v1, {
      principal_type: 'agent',
      principal_id: disabled.agent.id,
      secret_path_pattern: '**',
      permissions: ['read'],
    });
    const off = await api.request({
      method: 'PATCH',
      url: `/v1/agents/${disabled.agent.id}`,
      payload: { disabled: true },
    });
    expect(off.statusCode).toBe(200);
    tokens.admin = await api.adminToken();
  });
  afterAll(async () => {
    await api?.close();
    await kube?.cleanup();
  });

  /** A case: `who` sends `method` to `url()` and is answered `expect` (status, and error code if any). */
  const send = (
    name: string,
    who: string,
    method: Method,
    url: () => string,
    expect: [number, string?],
    extra: Partial<Case> = {},
  ): Case => ({
    name,
    who,
    method,
    url,
    status: expect[0],
    ...(expect[1] ? { code: expect[1] } : {}),
    ...extra,
  });
  const get = (who: string, path: string, expect: [number, string?], extra: Partial<Case> = {}): Case =>
    send(`${who} GET ${path}`, who, 'GET', () => secretUrl(v1, path), expect, extra);
  const ok: [number] = [200];
  const missing: [number, string] = [404, 'not_found'];
  const no: [number, string] = [403, 'forbidden'];

  const cases: Case[] = [
    // Admins are not bound by grants.
    get('admin', 'app/db/password', ok),
    get('admin', 'other/x', ok),
    send('admin GET in another vault', 'admin', 'GET', () => secretUrl(v2, 'app/db/password'), ok),
    // `*` is one segment.
    get('member', 'app/db/password', ok),
    get('member', 'app/web/password', missing),
    get('member', 'app/db/user', no),
    get('member', 'app/db/password/x', no),
    get('member', 'other/x', no),
    // A denial is the same whether the secret exists or not.
    get('member', 'other/does-not-exist', no),
    // Permissions are separate: a read grant does not write or delete.
    send('member PUT under a read grant', 'member', 'PUT', () => secretUrl(v1, 'app/db/password'), no, {
      payload: { type: 'password', value: 'member-wrote' },
    }),
    send('member DELETE under a read grant', 'member', 'DELETE', () => secretUrl(v1, 'app/db/password'), no),
    send(
      'member versions under a list grant',
      'member',
      'GET',
      () => `/v1/vaults/${v1}/versions/app/db/user`,
      ok,
    ),
    // Time windows.
    get('member', 'app/api/key', [403, 'outside_time_window']),
    get('member', 'app/deep/a/b/c', ok),
    // Another vault: grants do not carry over; an unknown vault reads the same.
    send('member GET in another vault', 'member', 'GET', () => secretUrl(v2, 'app/db/password'), no),
    send(
      'member GET in a vault that does not exist',
      'member',
      'GET',
      () => secretUrl(randomUUID(), 'app/db/password'),
      no,
    ),
    send('member GET vault with grants', 'member', 'GET', () => `/v1/vaults/${v1}`, ok),
    send('member GET vault without grants', 'member', 'GET', () => `/v1/vaults/${v2}`, no),
    // `**` is any depth; write and delete are their own permissions.
    get('agent', 'app/deep/a/b/c', ok),
    get('agent', 'app/db/user', ok),
    send('agent PUT under app/**', 'agent', 'PUT', () => secretUrl(v1, 'app/new/by-agent'), ok, {
      payload: { type: 'api_key', value: 'agent-wrote' },
    }),
    send('agent PUT outside its grants', 'agent', 'PUT', () => secretUrl(v1, 'elsewhere/by-agent'), no, {
      payload: { type: 'api_key', value: 'agent-wrote' },
    }),
    send('agent DELETE under app/api/*', 'agent', 'DELETE', () => secretUrl(v1, 'app/new/by-agent'), no),
    send('agent list without a list grant', 'agent', 'GET', () => `/v1/vaults/${v1}/secrets`, no),
    // Client address conditions: the socket address, or X-Forwarded-For from a trusted proxy only.
    get('agent', 'other/x', [403, 'ip_not_allowed']),
    get('agent', 'other/x', ok, {
      name: 'agent GET other/x via trusted proxy for 10.1.2.3',
      headers: { 'x-forwarded-for': '10.1.2.3' },
    }),
    get('agent', 'other/x', ok, { name: 'agent GET other/x from 10.9.9.9', remoteAddress: '10.9.9.9' }),
    get('agent', 'other/x', ok, { name: 'agent GET other/x from 2001:db8::7', remoteAddress: '2001:db8::7' }),
    get('agent', 'other/x', [403, 'ip_not_allowed'], {
      name: 'agent GET other/x with X-Forwarded-For from an untrusted client',
      remoteAddress: '192.0.2.9',
      headers: { 'x-forwarded-for': '10.1.2.3' },
    }),
    // Expired grants stop at once.
    get('agent', 'ops/night/x', [403, 'grant_expired']),
    // Kubernetes service accounts, by the identity of their token.
    get('reader', 'app/db/password', ok),
    get('reader', 'app/db/user', ok),
    get('reader', 'app/api/key', no),
    get('reader', 'app/db/password', [403, 'ip_not_allowed'], {
      name: 'reader from 192.0.2.1',
      remoteAddress: '192.0.2.1',
    }),
    get('ipv6', 'app/db/user', ok, { name: 'ipv6 from ::1', remoteAddress: '::1' }),
    get('ipv6', 'app/db/user', [403, 'ip_not_allowed'], { name: 'ipv6 from 127.0.0.1' }),
    get('ungranted', 'app/db/password', no),
    send('ungranted lists vaults', 'ungranted', 'GET', () => '/v1/vaults', ok),
    send('reader lists secrets', 'reader', 'GET', () => `/v1/vaults/${v1}/secrets`, ok),
    send('reader creates a vault', 'reader', 'POST', () => '/v1/vaults', [403, 'admin_required'], {
      payload: { name: 'sa-vault' },
    }),
    send(
      'reader grants itself',
      'reader',
      'POST',
      () => `/v1/vaults/${v1}/policies`,
      [403, 'admin_required'],
      {
        payload: {
          principal_type: 'k8s_service_account',
          principal_id: 'system:serviceaccount:x:reader',
          secret_path_pattern: '**',
          permissions: ['read'],
        },
      },
    ),
    // Revoked principals and forged tokens: 401, before any grant is looked at.
    get('disabledAgent', 'app/db/password', [401, 'principal_revoked']),
    get('none', 'app/db/password', [401, 'unauthenticated']),
    get('algNone', 'app/db/password', [401, 'invalid_token']),
    get('hmacPublicKey', 'app/db/password', [401, 'invalid_token']),
    get('tampered', 'app/db/password', [401, 'invalid_token']),
    get('expiryExtended', 'app/db/password', [401, 'invalid_token']),
    get('garbage', 'app/db/password', [401, 'invalid_token']),
  ];

  /** Tokens forged from real ones: what an attacker holding a member's token could try. */
  const forged = async (who: string): Promise<string | null> => {
    if (who === 'none') return null;
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const [h, p, s] = (tokens.member as string).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    if (who === 'algNone') return `${b64({ ...header, alg: 'none' })}.${p}.`;
    if (who === 'tampered') return `${h}.${b64({ ...claims, role: 'admin' })}.${s}`;
    if (who === 'expiryExtended') return `${h}.${b64({ ...claims, exp: 4_000_000_000 })}.${s}`;
    if (who === 'garbage') return 'eyJhbGciOiJFZERTQSJ9.e30.AAAA';
    if (who === 'hmacPublicKey') {
      const jwks = (await api.request({ method: 'GET', url: '/.well-known/jwks.json', token: null })).body;
      const input = `${b64({ ...header, alg: 'HS256' })}.${p}`;
      return `${input}.${createHmac('sha256', jwks).update(input).digest('base64url')}`;
    }
    return tokens[who] as string;
  };

  it('has at least forty cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await api.request({
      method: c.method,
      url: c.url(),
      token: await forged(c.who),
      ...(c.payload ? { payload: c.payload } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
      ...(c.remoteAddress ? { remoteAddress: c.remoteAddress } : {}),
    });
    expect({ status: res.statusCode, body: res.statusCode === c.status ? '' : res.body }).toEqual({
      status: c.status,
      body: '',
    });
    if (c.code) expectError(res, c.status, c.code);
    if (c.status >= 400) expect(res.body).not.toContain(SECRET);
  });

  it('lists only what the caller may list, in SQL, with pagination intact', async () => {
    const list = async (who: string, query = '') => {
      const res = await api.request({
        method: 'GET',
        url: `/v1/vaults/${v1}/secrets${query}`,
        token: tokens[who] as string,
      });
      expect(res.statusCode).toBe(200);
      return res.json() as { secrets: Array<{ path: string }>; next_cursor: string | null };
    };
    expect((await list('reader')).secrets.map((s) => s.path)).toEqual(['app/db/password', 'app/db/user']);
    const all = (await list('member')).secrets.map((s) => s.path);
    expect(all).toEqual([
      'app/api/key',
      'app/db/password',
      'app/db/user',
      'app/deep/a/b/c',
      'app/new/by-agent',
    ]);
    // Page by page, the member sees the same list and nothing else.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list('member', `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...page.secrets.map((s) => s.path));
      cursor = page.next_cursor;
    } while (cursor);
    expect(paged).toEqual(all);
    // A prefix outside every list grant is a denial, not an empty page.
    const outside = await api.request({
      method: 'GET',
      url: `/v1/vaults/${v1}/secrets?prefix=other/`,
      token: tokens.member as string,
    });
    expectError(outside, 403, 'forbidden');
  });

  it('lists only the vaults the caller holds a usable grant in', async () => {
    const vaults = async (who: string) => {
      const res = await api.request({ method: 'GET', url: '/v1/vaults', token: tokens[who] as string });
      return (res.json() as { vaults: Array<{ id: string }> }).vaults.map((v) => v.id);
    };
    expect(await vaults('member')).toEqual([v1]);
    expect(await vaults('ungranted')).toEqual([]);
    expect((await vaults('admin')).sort()).toEqual([v1, v2].sort());
  });

  it('refuses Kubernetes tokens for another audience or of a deleted service account', async () => {
    expectError(await k8sExchange(tokens.otherAudienceK8s as string), 401, 'wrong_audience');
    expectError(await k8sExchange(tokens.doomedK8s as string), 401, 'principal_revoked');
    expectError(await k8sExchange('not-a-token'), 401, 'invalid_token');
    const res = await k8sExchange(tokens.doomedK8s as string);
    expect(res.body).not.toContain(tokens.doomedK8s as string);
  });

  it('audits every denial with principal, vault, path and reason, and never a value or token', async () => {
    const { rows } = await api.db.pool.query<{
      actor: string;
      action: string;
      vault_id: string | null;
      path: string | null;
      reason: string;
      details: Record<string, unknown>;
    }>(
      `SELECT actor, action, vault_id, path, reason, details FROM audit_events WHERE decision = 'deny' ORDER BY seq`,
    );
    expect(rows).toContainEqual(
      expect.objectContaining({
        action: 'authz.read',
        vault_id: v1,
        path: 'other/x',
        reason: 'ip_not_allowed',
      }),
    );
    expect(rows).toContainEqual(
      expect.objectContaining({
        actor: kube.username('reader'),
        action: 'authz.read',
        path: 'app/api/key',
        reason: 'forbidden',
      }),
    );
    expect(rows).toContainEqual(
      expect.objectContaining({ action: 'authz.read', path: 'app/api/key', reason: 'outside_time_window' }),
    );
    expect(rows).toContainEqual(
      expect.objectContaining({ action: 'authz.read', path: 'ops/night/x', reason: 'grant_expired' }),
    );
    const all = JSON.stringify((await api.db.pool.query('SELECT * FROM audit_events')).rows);
    expect(all).not.toContain(SECRET);
    for (const t of Object.values(tokens)) expect(all).not.toContain(t.split('.')[2]);
  });
});
