// Grants over the API: create for each principal type (stored shape, conditions echoed), list,
// delete, validation (messages name the field), unknown vaults and principals, other
// organizations, admin-only management, the immediate effect of a grant and of its removal or
// expiry on tokens already issued, and the audit records.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  type ApiPolicy,
  agentTokenFor,
  createAgent,
  createOrg,
  createPolicy,
  createUser,
  createUserIn,
  createVault,
  expectError,
  orgId,
  secretUrl,
  tokenFor,
  writeSecret,
} from '../../../../../test/support/api-helpers.js';
import { bootstrapAdminId } from './test-helpers.js';

const POLICY_FIELDS = [
  'conditions',
  'created_at',
  'created_by',
  'expires_at',
  'id',
  'permissions',
  'principal_id',
  'principal_type',
  'secret_path_pattern',
  'vault_id',
];
const ADMIN_ONLY = 'only organization admins may administer the organization';
const SA = 'system:serviceaccount:payments:api-server';
const SA_RULE = 'principal_id: a service account is named system:serviceaccount:<namespace>:<name>';
const SECRET_VALUE = 's3cret-value-that-must-never-be-audited';

describe('policies', () => {
  let api: TestApi;
  let org: string;
  let adminId: string;
  let vaultId: string;
  let member: { userId: string; apiKey: string };
  let memberToken: string;
  let agentId: string;
  let agentKey: string;
  let other: Awaited<ReturnType<typeof createOrg>>;

  beforeAll(async () => {
    api = await startTestApi({ ONECLAW_AUTH_RATE_LIMIT: '0' });
    org = await orgId(api);
    adminId = await bootstrapAdminId(api);
    vaultId = (await createVault(api)).id;
    for (const path of ['app/x', 'app/y', 'app/x/y', 'other/x']) {
      await writeSecret(api, vaultId, path, `${SECRET_VALUE}-${path}`);
    }
    member = await createUser(api, 'member');
    memberToken = await tokenFor(api, member.apiKey);
    ({
      agent: { id: agentId },
      api_key: agentKey,
    } = await createAgent(api));
    // Last, because createUser/orgId expect a single organization.
    other = await createOrg(api);
  });
  afterAll(async () => {
    await api?.close();
  });

  const policiesUrl = (vault: string) => `/v1/vaults/${vault}/policies`;
  const post = (vault: string, payload: unknown, token?: string) =>
    api.request({
      method: 'POST',
      url: policiesUrl(vault),
      payload: payload as object,
      ...(token ? { token } : {}),
    });
  const list = async (vault: string) => {
    const res = await api.request({ method: 'GET', url: policiesUrl(vault) });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.json() as object)).toEqual(['policies']);
    return (res.json() as { policies: ApiPolicy[] }).policies;
  };
  const remove = (vault: string, id: string, token?: string) =>
    api.request({ method: 'DELETE', url: `${policiesUrl(vault)}/${id}`, ...(token ? { token } : {}) });
  const read = (path: string, token: string, vault = vaultId) =>
    api.request({ method: 'GET', url: secretUrl(vault, path), token });
  const userGrant = (extra: Record<string, unknown> = {}) => ({
    principal_type: 'user',
    principal_id: member.userId,
    secret_path_pattern: 'app/*',
    permissions: ['read'],
    ...extra,
  });
  const count = async () =>
    (await api.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM policies')).rows[0]?.n;

  describe('create and list', () => {
    it('creates a grant for a user: 201 with the stored shape', async () => {
      const vault = await createVault(api);
      const before = Date.now();
      const res = await post(vault.id, userGrant({ permissions: ['read', 'list'] }));
      expect(res.statusCode).toBe(201);
      const p = res.json() as ApiPolicy;
      expect(Object.keys(p).sort()).toEqual(POLICY_FIELDS);
      expect(p).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        vault_id: vault.id,
        principal_type: 'user',
        principal_id: member.userId,
        secret_path_pattern: 'app/*',
        permissions: ['read', 'list'],
        conditions: {},
        expires_at: null,
        created_by: `user:${adminId}`,
        created_at: expect.any(String),
      });
      expect(new Date(p.created_at).toISOString()).toBe(p.created_at);
      expect(Date.parse(p.created_at)).toBeGreaterThanOrEqual(before - 1000);
      expect(await list(vault.id)).toEqual([p]);
    });

    it('creates a grant for an agent with conditions and an expiry, echoed as stored', async () => {
      const vault = await createVault(api);
      const conditions = {
        ip_cidrs: ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32'],
        time_window: { days: ['mon', 'tue', 'fri'], start: '22:00', end: '06:00', tz: 'Europe/Berlin' },
      };
      const p = await createPolicy(api, vault.id, {
        principal_type: 'agent',
        principal_id: agentId,
        secret_path_pattern: 'ci/**/db-*',
        permissions: ['write', 'read', 'delete', 'list'],
        conditions,
        expires_at: '2099-12-31T23:00:00-01:00',
      });
      expect(p).toMatchObject({
        vault_id: vault.id,
        principal_type: 'agent',
        principal_id: agentId,
        secret_path_pattern: 'ci/**/db-*',
        permissions: ['write', 'read', 'delete', 'list'],
        conditions,
        expires_at: '2100-01-01T00:00:00.000Z',
        created_by: `user:${adminId}`,
      });
      expect(await list(vault.id)).toEqual([p]);
      const { rows } = await api.db.pool.query('SELECT conditions, org_id FROM policies WHERE id = $1', [
        p.id,
      ]);
      expect(rows).toEqual([{ conditions, org_id: org }]);
    });

    it('creates a grant for a Kubernetes service account by name', async () => {
      const vault = await createVault(api);
      const p = await createPolicy(api, vault.id, {
        principal_type: 'k8s_service_account',
        principal_id: SA,
        secret_path_pattern: '**',
        permissions: ['read'],
        conditions: { ip_cidrs: ['10.96.0.0/12'] },
        expires_at: null,
      });
      expect(p).toMatchObject({
        principal_type: 'k8s_service_account',
        principal_id: SA,
        secret_path_pattern: '**',
        conditions: { ip_cidrs: ['10.96.0.0/12'] },
        expires_at: null,
      });
      expect(await list(vault.id)).toEqual([p]);
    });

    it("lists a vault's grants in creation order, and only that vault's", async () => {
      const vault = await createVault(api);
      const elsewhere = await createVault(api);
      const a = await createPolicy(api, vault.id, userGrant());
      const b = await createPolicy(api, vault.id, {
        principal_type: 'agent',
        principal_id: agentId,
        secret_path_pattern: 'x/y',
        permissions: ['list'],
      });
      const c = await createPolicy(api, vault.id, {
        principal_type: 'k8s_service_account',
        principal_id: SA,
        secret_path_pattern: 'x/*',
        permissions: ['read'],
      });
      const d = await createPolicy(api, elsewhere.id, userGrant());
      expect(await list(vault.id)).toEqual([a, b, c]);
      expect(await list(elsewhere.id)).toEqual([d]);
      expect(await list((await createVault(api)).id)).toEqual([]);
    });

    it('records policy.create in the audit log with the principal and the pattern, never a value', async () => {
      const res = await post(
        vaultId,
        userGrant({ secret_path_pattern: 'audit/**', permissions: ['read', 'write'] }),
      );
      const p = res.json() as ApiPolicy;
      const { rows } = await api.db.pool.query(
        `SELECT actor, action, decision, vault_id, request_id, details FROM audit_events
          WHERE action = 'policy.create' AND details->>'policy' = $1`,
        [p.id],
      );
      expect(rows).toEqual([
        {
          actor: `user:${adminId}`,
          action: 'policy.create',
          decision: 'allow',
          vault_id: vaultId,
          request_id: res.headers['x-request-id'],
          details: {
            policy: p.id,
            principal: `user:${member.userId}`,
            pattern: 'audit/**',
            permissions: 'read,write',
          },
        },
      ]);
      expect(JSON.stringify(rows)).not.toContain(SECRET_VALUE);
    });
  });

  describe('delete', () => {
    it('answers 204, the grant is gone, and a second delete is 404', async () => {
      const vault = await createVault(api);
      const keep = await createPolicy(api, vault.id, userGrant({ secret_path_pattern: 'keep/*' }));
      const p = await createPolicy(api, vault.id, userGrant());
      const res = await remove(vault.id, p.id);
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      expect(await list(vault.id)).toEqual([keep]);
      expect((await api.db.pool.query('SELECT 1 FROM policies WHERE id = $1', [p.id])).rowCount).toBe(0);
      expectError(await remove(vault.id, p.id), 404, 'not_found', 'policy not found');
      expectError(await remove(vault.id, randomUUID()), 404, 'not_found', 'policy not found');
      expect(await list(vault.id)).toEqual([keep]);
    });

    it("answers 404 to a grant of another vault, through this vault's URL, and keeps it", async () => {
      const a = await createVault(api);
      const b = await createVault(api);
      const p = await createPolicy(api, a.id, userGrant());
      expectError(await remove(b.id, p.id), 404, 'not_found', 'policy not found');
      expect(await list(a.id)).toEqual([p]);
    });

    it('answers 400 to ids that are not UUIDs', async () => {
      expectError(
        await remove(vaultId, 'not-a-uuid'),
        400,
        'invalid_request',
        'params/policy_id must match format "uuid"',
      );
      expectError(
        await remove('not-a-uuid', randomUUID()),
        400,
        'invalid_request',
        'params/vault_id must match format "uuid"',
      );
    });

    it('records policy.delete in the audit log with the principal and the pattern, never a value', async () => {
      const p = await createPolicy(
        api,
        vaultId,
        userGrant({ secret_path_pattern: 'gone/*', permissions: ['list'] }),
      );
      const res = await remove(vaultId, p.id);
      expect(res.statusCode).toBe(204);
      const { rows } = await api.db.pool.query(
        `SELECT actor, action, decision, vault_id, request_id, details FROM audit_events
          WHERE action = 'policy.delete' AND details->>'policy' = $1`,
        [p.id],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        actor: `user:${adminId}`,
        action: 'policy.delete',
        decision: 'allow',
        vault_id: vaultId,
        request_id: res.headers['x-request-id'],
      });
      // The record says which grant was revoked without needing the (deleted) policy row.
      expect(rows[0].details).toMatchObject({
        policy: p.id,
        principal: `user:${member.userId}`,
        pattern: 'gone/*',
      });
      expect(JSON.stringify(rows)).not.toContain(SECRET_VALUE);
    });
  });

  describe('validation', () => {
    // A vault of their own, so that a request wrongly accepted grants nothing elsewhere.
    let target: string;
    beforeAll(async () => {
      target = (await createVault(api)).id;
    });
    const cases: Array<[string, Record<string, unknown>, string | RegExp]> = [
      [
        'a ** inside a segment',
        { secret_path_pattern: 'a/**b' },
        'secret_path_pattern: segment "**b" may use ** only as a whole segment',
      ],
      [
        'a leading slash',
        { secret_path_pattern: '/a' },
        'secret_path_pattern: must not start or end with a slash',
      ],
      [
        'a trailing slash',
        { secret_path_pattern: 'a/' },
        'secret_path_pattern: must not start or end with a slash',
      ],
      [
        'an empty segment',
        { secret_path_pattern: 'a//b' },
        'secret_path_pattern: must not contain an empty segment (//)',
      ],
      [
        'a space',
        { secret_path_pattern: 'a b' },
        'secret_path_pattern: contains " " at position 2; segments are made of A-Z a-z 0-9 _ - and the wildcards * and **',
      ],
      [
        'a regex character',
        { secret_path_pattern: 'app/.*' },
        'secret_path_pattern: contains "." at position 5; segments are made of A-Z a-z 0-9 _ - and the wildcards * and **',
      ],
      [
        'an empty pattern',
        { secret_path_pattern: '' },
        'body/secret_path_pattern must NOT have fewer than 1 characters',
      ],
      [
        'a pattern over 512 characters',
        { secret_path_pattern: `${'a/'.repeat(256)}b` },
        'body/secret_path_pattern must NOT have more than 512 characters',
      ],
      ['no permissions', { permissions: [] }, 'body/permissions must NOT have fewer than 1 items'],
      ['an unknown permission', { permissions: ['read', 'admin'] }, /^body\/permissions\/1 /],
      [
        'a duplicate permission',
        { permissions: ['read', 'read'] },
        'permissions: each permission may appear once',
      ],
      [
        'a CIDR prefix over 32',
        { conditions: { ip_cidrs: ['10.0.0.0/33'] } },
        'conditions.ip_cidrs: entry 1 is not an IPv4 or IPv6 address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)',
      ],
      [
        'a second CIDR that is not one',
        { conditions: { ip_cidrs: ['10.0.0.0/8', 'intranet'] } },
        'conditions.ip_cidrs: entry 2 is not an IPv4 or IPv6 address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)',
      ],
      [
        'an empty CIDR list',
        { conditions: { ip_cidrs: [] } },
        'body/conditions/ip_cidrs must NOT have fewer than 1 items',
      ],
      [
        'a start hour of 25',
        { conditions: { time_window: { start: '25:00', end: '06:00', tz: 'UTC' } } },
        /^body\/conditions\/time_window\/start must match pattern/,
      ],
      [
        'an end without minutes',
        { conditions: { time_window: { start: '09:00', end: '17', tz: 'UTC' } } },
        /^body\/conditions\/time_window\/end must match pattern/,
      ],
      [
        'an unknown time zone',
        { conditions: { time_window: { start: '09:00', end: '17:00', tz: 'Mars/Base' } } },
        'conditions.time_window: tz must be an IANA time zone name such as UTC or Europe/Berlin',
      ],
      [
        'start equal to end',
        { conditions: { time_window: { start: '09:00', end: '09:00', tz: 'UTC' } } },
        'conditions.time_window: start and end must differ',
      ],
      [
        'a day listed twice',
        { conditions: { time_window: { days: ['mon', 'mon'], start: '09:00', end: '17:00', tz: 'UTC' } } },
        'conditions.time_window: days lists mon more than once',
      ],
      [
        'an unknown day',
        { conditions: { time_window: { days: ['funday'], start: '09:00', end: '17:00', tz: 'UTC' } } },
        /^body\/conditions\/time_window\/days\/0 /,
      ],
      [
        'an unknown condition',
        { conditions: { ip: ['10.0.0.0/8'] } },
        'body/conditions must NOT have additional properties',
      ],
      ['an unknown principal_type', { principal_type: 'group' }, /^body\/principal_type /],
      [
        'a user id that is not a UUID',
        { principal_id: 'alice' },
        'principal_id: a user is named by its id (a UUID)',
      ],
      [
        'an agent id that is not a UUID',
        { principal_type: 'agent', principal_id: 'ci-bot' },
        /^principal_id: an? agent is named by its id \(a UUID\)$/,
      ],
      [
        'a service account without a name',
        { principal_type: 'k8s_service_account', principal_id: 'system:serviceaccount:payments' },
        SA_RULE,
      ],
      [
        'a service account with an upper-case namespace',
        { principal_type: 'k8s_service_account', principal_id: 'system:serviceaccount:Payments:api' },
        SA_RULE,
      ],
      [
        'a service account with an extra part',
        { principal_type: 'k8s_service_account', principal_id: 'system:serviceaccount:a:b:c' },
        SA_RULE,
      ],
      [
        'a service account given by its bare name',
        { principal_type: 'k8s_service_account', principal_id: 'payments/api-server' },
        SA_RULE,
      ],
      [
        'a service account id for a user',
        { principal_id: SA },
        'principal_id: a user is named by its id (a UUID)',
      ],
      ['an expiry that is not a date-time', { expires_at: 'soon' }, /^body\/expires_at /],
      ['an empty expiry', { expires_at: '' }, /^body\/expires_at /],
      ['an unknown field', { vault: 'x' }, 'body must NOT have additional properties'],
    ];

    it.each(cases)(
      'answers 400 to %s, naming the field, and stores nothing',
      async (_what, extra, message) => {
        const before = await count();
        expectError(await post(target, userGrant(extra)), 400, 'invalid_request', message);
        expect(await count()).toBe(before);
      },
    );

    it('answers 400 to a missing field', async () => {
      for (const field of ['principal_type', 'principal_id', 'secret_path_pattern', 'permissions']) {
        const body: Record<string, unknown> = userGrant();
        delete body[field];
        expectError(
          await post(target, body),
          400,
          'invalid_request',
          `body must have required property '${field}'`,
        );
      }
    });

    it('answers 400 to a user or agent that does not exist in the organization', async () => {
      const before = await count();
      const { agent: deleted } = await createAgent(api);
      expect((await api.request({ method: 'DELETE', url: `/v1/agents/${deleted.id}` })).statusCode).toBe(204);
      const attempts: Array<['user' | 'agent', string]> = [
        ['user', randomUUID()],
        ['agent', randomUUID()],
        ['user', agentId], // an agent's id named as a user
        ['agent', member.userId], // a user's id named as an agent
        ['user', other.admin.userId], // another organization's user
        ['agent', other.agentId], // another organization's agent
        ['agent', deleted.id], // a deleted agent
      ];
      for (const [type, id] of attempts) {
        expectError(
          await post(target, userGrant({ principal_type: type, principal_id: id })),
          400,
          'invalid_request',
          `principal_id: no ${type} with that id in this organization`,
        );
      }
      expect(await count()).toBe(before);
    });
  });

  describe('vaults and organizations', () => {
    it('answers 404 to an unknown or deleted vault for an admin', async () => {
      const gone = await createVault(api);
      expect((await api.request({ method: 'DELETE', url: `/v1/vaults/${gone.id}` })).statusCode).toBe(204);
      for (const id of [randomUUID(), gone.id]) {
        expectError(await post(id, userGrant()), 404, 'not_found', 'vault not found');
        expectError(
          await api.request({ method: 'GET', url: policiesUrl(id) }),
          404,
          'not_found',
          'vault not found',
        );
        expectError(await remove(id, randomUUID()), 404, 'not_found', 'vault not found');
      }
      expectError(
        await api.request({ method: 'GET', url: policiesUrl('12345') }),
        400,
        'invalid_request',
        'params/vault_id must match format "uuid"',
      );
    });

    it("answers 404 to another organization's admin on this organization's vault, and changes nothing", async () => {
      const p = await createPolicy(api, vaultId, userGrant({ secret_path_pattern: 'org/*' }));
      const before = await list(vaultId);
      const theirs = await tokenFor(api, other.admin.apiKey);
      expectError(
        await api.request({ method: 'GET', url: policiesUrl(vaultId), token: theirs }),
        404,
        'not_found',
        'vault not found',
      );
      expectError(await remove(vaultId, p.id, theirs), 404, 'not_found', 'vault not found');
      expectError(
        await post(
          vaultId,
          {
            principal_type: 'user',
            principal_id: other.admin.userId,
            secret_path_pattern: '**',
            permissions: ['read'],
          },
          theirs,
        ),
        404,
        'not_found',
        'vault not found',
      );
      expect(await list(vaultId)).toEqual(before);
    });
  });

  describe('authorization', () => {
    it('answers 403 admin_required to a member or an agent on every policy call, even for an unknown vault', async () => {
      const p = await createPolicy(api, vaultId, userGrant({ secret_path_pattern: 'authz/*' }));
      const agentToken = await agentTokenFor(api, agentId, agentKey);
      const before = await count();
      for (const token of [memberToken, agentToken]) {
        for (const vault of [vaultId, randomUUID()]) {
          const calls: Array<['GET' | 'POST' | 'DELETE', string, object?]> = [
            ['GET', policiesUrl(vault)],
            [
              'POST',
              policiesUrl(vault),
              userGrant({ secret_path_pattern: '**', permissions: ['read', 'write'] }),
            ],
            ['DELETE', `${policiesUrl(vault)}/${p.id}`],
          ];
          for (const [method, url, payload] of calls) {
            const res = await api.request({ method, url, token, ...(payload ? { payload } : {}) });
            expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 403 });
            expectError(res, 403, 'admin_required', ADMIN_ONLY);
          }
        }
      }
      expect(await count()).toBe(before);
      expect(await list(vaultId)).toContainEqual(p);
    });

    it('answers 401 without a bearer token', async () => {
      expectError(
        await api.request({ method: 'GET', url: policiesUrl(vaultId), token: null }),
        401,
        'unauthenticated',
      );
    });
  });

  describe('effect', () => {
    it('a grant works at once for a token already issued, only where its pattern matches, and stops at once when deleted', async () => {
      // A fresh member, so no other test's grants are in play.
      const who = await createUserIn(api, org, 'member');
      const token = await tokenFor(api, who.apiKey);
      const forbidden = async (path: string) =>
        expectError(await read(path, token), 403, 'forbidden', `no grant allows read on ${path}`);

      await forbidden('app/x');
      const grant = await createPolicy(api, vaultId, {
        principal_type: 'user',
        principal_id: who.userId,
        secret_path_pattern: 'app/*',
        permissions: ['read'],
      });
      // The same token, not a new one.
      const ok = await read('app/x', token);
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ path: 'app/x', value: `${SECRET_VALUE}-app/x`, version: 1 });
      expect((await read('app/y', token)).statusCode).toBe(200);
      await forbidden('app/x/y');
      await forbidden('other/x');
      // read does not imply write.
      expectError(
        await api.request({
          method: 'PUT',
          url: secretUrl(vaultId, 'app/x'),
          payload: { type: 'password', value: 'member-wrote' },
          token,
        }),
        403,
        'forbidden',
        'no grant allows write on app/x',
      );
      // The vault is now visible to the member.
      const visible = await api.request({ method: 'GET', url: '/v1/vaults', token });
      expect((visible.json() as { vaults: Array<{ id: string }> }).vaults.map((v) => v.id)).toEqual([
        vaultId,
      ]);

      expect((await remove(vaultId, grant.id)).statusCode).toBe(204);
      await forbidden('app/x');
      await forbidden('app/y');
      expect((await api.request({ method: 'GET', url: '/v1/vaults', token })).json()).toEqual({ vaults: [] });
    });

    it("a grant to an agent works for the agent's live token, with ** at any depth", async () => {
      const { agent, api_key: key } = await createAgent(api);
      const token = await agentTokenFor(api, agent.id, key);
      expectError(await read('app/x/y', token), 403, 'forbidden', 'no grant allows read on app/x/y');
      await createPolicy(api, vaultId, {
        principal_type: 'agent',
        principal_id: agent.id,
        secret_path_pattern: 'app/**',
        permissions: ['read'],
      });
      for (const path of ['app/x', 'app/x/y']) {
        const res = await read(path, token);
        expect({ path, status: res.statusCode }).toEqual({ path, status: 200 });
      }
      expectError(await read('other/x', token), 403, 'forbidden', 'no grant allows read on other/x');
      // Another principal's grant does nothing for the member.
      expectError(await read('app/x/y', memberToken), 403, 'forbidden');
    });

    it('an expiring grant stops working when it expires, for a token already issued', async () => {
      const { agent, api_key: key } = await createAgent(api);
      const token = await agentTokenFor(api, agent.id, key);
      const expires = new Date(Date.now() + 1500).toISOString();
      const p = await createPolicy(api, vaultId, {
        principal_type: 'agent',
        principal_id: agent.id,
        secret_path_pattern: 'other/*',
        permissions: ['read'],
        expires_at: expires,
      });
      expect(p.expires_at).toBe(expires);
      expect((await read('other/x', token)).statusCode).toBe(200);
      await new Promise((r) => setTimeout(r, Date.parse(expires) - Date.now() + 100));
      expectError(
        await read('other/x', token),
        403,
        'grant_expired',
        'the grant that allowed it has expired: read on other/x',
      );
    });

    it('a grant whose client-address condition does not match does not allow', async () => {
      const { agent, api_key: key } = await createAgent(api);
      const token = await agentTokenFor(api, agent.id, key);
      // app.inject's client address is 127.0.0.1.
      const p = await createPolicy(api, vaultId, {
        principal_type: 'agent',
        principal_id: agent.id,
        secret_path_pattern: 'app/x',
        permissions: ['read'],
        conditions: { ip_cidrs: ['10.0.0.0/8'] },
      });
      expectError(
        await read('app/x', token),
        403,
        'ip_not_allowed',
        'not allowed from this client address: read on app/x',
      );
      expect((await remove(vaultId, p.id)).statusCode).toBe(204);
      await createPolicy(api, vaultId, {
        principal_type: 'agent',
        principal_id: agent.id,
        secret_path_pattern: 'app/x',
        permissions: ['read'],
        conditions: { ip_cidrs: ['127.0.0.0/8'] },
      });
      expect((await read('app/x', token)).statusCode).toBe(200);
    });
  });
});
