// Agents over the API: create (the ocv_ key is shown once and stored only as a hash), list, get,
// patch (disable, enable, expire: live tokens stop at once), rotate-key, delete (keys and grants
// go with it), the agent token exchange (no oracle for agent ids), and admin-only management.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  type ApiAgent,
  type ApiPolicy,
  agentExchange,
  agentTokenFor,
  createAgent,
  createOrg,
  createPolicy,
  createUser,
  createVault,
  expectError,
  expectStoredNowhere,
  principalName,
  tokenFor,
} from '../../../../../test/support/api-helpers.js';
import { generateApiKey, verifyApiKey } from '../../../services/auth/api-keys.js';
import { bootstrapAdminId, principalAudit } from './test-helpers.js';

const AGENT_FIELDS = [
  'created_at',
  'created_by',
  'description',
  'disabled',
  'expires_at',
  'id',
  'name',
  'updated_at',
];
const NAME_RULE = 'name: lowercase letters, digits, . _ - (1-63), starting and ending alphanumeric';
const ADMIN_ONLY = 'only organization admins may administer the organization';
const REVOKED = 'the token was revoked';
const AGENT_REVOKED = 'the agent is disabled, deleted or expired';
const BAD_AGENT_CREDENTIALS = 'invalid agent id or API key';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('agents', () => {
  let api: TestApi;
  let adminId: string;
  let vaultId: string;
  let memberToken: string;
  let other: Awaited<ReturnType<typeof createOrg>>;

  beforeAll(async () => {
    // Many token exchanges from one client address: no rate limit in this suite.
    api = await startTestApi({ ONECLAW_AUTH_RATE_LIMIT: '0' });
    adminId = await bootstrapAdminId(api);
    vaultId = (await createVault(api)).id;
    memberToken = await tokenFor(api, (await createUser(api, 'member')).apiKey);
    // Last, because createUser/orgId expect a single organization.
    other = await createOrg(api);
  });
  afterAll(async () => {
    await api?.close();
  });

  const url = (id: string, rest = '') => `/v1/agents/${id}${rest}`;
  const post = (payload: unknown, token?: string) =>
    api.request({
      method: 'POST',
      url: '/v1/agents',
      payload: payload as object,
      ...(token ? { token } : {}),
    });
  const get = (id: string) => api.request({ method: 'GET', url: url(id) });
  const list = async () => {
    const res = await api.request({ method: 'GET', url: '/v1/agents' });
    expect(res.statusCode).toBe(200);
    return { res, agents: (res.json() as { agents: ApiAgent[] }).agents };
  };
  const patch = (id: string, payload: unknown) =>
    api.request({ method: 'PATCH', url: url(id), payload: payload as object });
  const rotate = (id: string) => api.request({ method: 'POST', url: url(id, '/rotate-key') });
  const remove = (id: string) => api.request({ method: 'DELETE', url: url(id) });
  /** The probe for "this token works": an agent without grants sees no vaults, with a 200. */
  const probe = (token: string) => api.request({ method: 'GET', url: '/v1/vaults', token });
  const expectWorks = async (token: string) => {
    const res = await probe(token);
    expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 200, body: { vaults: [] } });
  };
  const auditOf = (agentId: string) => principalAudit(api, 'agent', agentId);

  describe('create', () => {
    it('answers 201 with the agent and an ocv_ key that exchanges for a working token', async () => {
      const name = principalName('ci');
      const before = Date.now();
      const res = await post({ name, description: 'the CI pipeline' });
      expect(res.statusCode).toBe(201);
      const body = res.json() as { agent: ApiAgent; api_key: string };
      expect(Object.keys(body).sort()).toEqual(['agent', 'api_key']);
      expect(Object.keys(body.agent).sort()).toEqual(AGENT_FIELDS);
      expect(body.agent).toMatchObject({
        name,
        description: 'the CI pipeline',
        disabled: false,
        expires_at: null,
        created_by: `user:${adminId}`,
      });
      expect(body.agent.id).toMatch(UUID_V4);
      expect(Date.parse(body.agent.created_at)).toBeGreaterThanOrEqual(before - 1000);
      expect(body.agent.updated_at).toBe(body.agent.created_at);
      // ocv_, a 16-character lookup id, then 32 random bytes in base64url.
      expect(body.api_key).toMatch(/^ocv_[A-Za-z0-9_-]{16}[A-Za-z0-9_-]{43}$/);

      const exchanged = await agentExchange(api, body.agent.id, body.api_key);
      expect(exchanged.statusCode).toBe(200);
      const token = exchanged.json() as Record<string, unknown>;
      expect(Object.keys(token).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
      expect(token).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
      await expectWorks(String(token.access_token));

      expect(await auditOf(body.agent.id)).toEqual([
        {
          action: 'agent.create',
          actor: `user:${adminId}`,
          request_id: res.headers['x-request-id'],
          details: { agent: body.agent.id },
        },
      ]);
    });

    it('shows the key once: get and list never return it or its hash, and the database holds only a hash', async () => {
      const { agent, api_key: key } = await createAgent(api);
      const { rows } = await api.db.pool.query<{ key_hash: Buffer; lookup: string; revoked_at: Date | null }>(
        'SELECT key_hash, lookup, revoked_at FROM api_keys WHERE principal_id = $1',
        [agent.id],
      );
      expect(rows).toHaveLength(1);
      const row = rows[0] as { key_hash: Buffer; lookup: string; revoked_at: Date | null };
      expect(row.revoked_at).toBeNull();
      expect(row.lookup).toBe(key.slice(4, 20));
      expect(row.key_hash).toHaveLength(48); // salt + scrypt hash
      expect(await verifyApiKey(key, row.key_hash)).toBe(true);

      const one = await get(agent.id);
      expect(one.statusCode).toBe(200);
      expect(one.json()).toEqual(agent);
      const { res: listed, agents } = await list();
      expect(agents).toContainEqual(agent);
      const secretPart = key.slice(20);
      for (const body of [one.body, listed.body]) {
        expect(body).not.toContain(key);
        expect(body).not.toContain(secretPart);
        expect(body).not.toContain(row.key_hash.toString('hex'));
        expect(body).not.toContain(row.key_hash.toString('base64'));
        expect(body).not.toContain(row.key_hash.subarray(16).toString('hex'));
        expect(body).not.toMatch(/hash|api_key|ocv_/);
      }
      // Neither the key nor its secret part is stored anywhere, in any column of any table.
      await expectStoredNowhere(api, key);
      await expectStoredNowhere(api, secretPart);
    });

    it('stores an expiry and answers it as an ISO date-time', async () => {
      const { agent, api_key: key } = await createAgent(api, { expires_at: '2099-06-30T12:00:00+02:00' });
      expect(agent.expires_at).toBe('2099-06-30T10:00:00.000Z');
      expect(agent.description).toBe('');
      expect((await get(agent.id)).json()).toEqual(agent);
      await expectWorks(await agentTokenFor(api, agent.id, key));
      const none = await createAgent(api, { expires_at: null });
      expect(none.agent.expires_at).toBeNull();
    });

    it('answers 409 to a duplicate name and creates nothing', async () => {
      const { agent } = await createAgent(api);
      expectError(
        await post({ name: agent.name }),
        409,
        'conflict',
        `an agent named ${agent.name} already exists`,
      );
      const n = await api.db.pool.query('SELECT count(*)::int AS n FROM agents WHERE name = $1', [
        agent.name,
      ]);
      expect(n.rows).toEqual([{ n: 1 }]);
      const keys = await api.db.pool.query(
        `SELECT count(*)::int AS n FROM api_keys WHERE principal_type = 'agent' AND principal_id NOT IN (SELECT id FROM agents)`,
      );
      expect(keys.rows).toEqual([{ n: 0 }]);
    });

    it('allows the same name in another organization', async () => {
      const { rows } = await api.db.pool.query<{ name: string }>('SELECT name FROM agents WHERE id = $1', [
        other.agentId,
      ]);
      const taken = (rows[0] as { name: string }).name;
      const { agent } = await createAgent(api, { name: taken });
      expect(agent.name).toBe(taken);
    });

    it.each(['CI-bot', 'ci bot', '-ci', 'ci-', '.ci', 'ci_', 'ci/bot', 'ci:bot', 'çi', 'ci\u0000x'])(
      'answers 400 to the invalid name %j',
      async (name) => {
        expectError(await post({ name }), 400, 'invalid_request', NAME_RULE);
      },
    );

    it('answers 400 to names that are empty or longer than 63 characters, and accepts 63', async () => {
      expectError(
        await post({ name: '' }),
        400,
        'invalid_request',
        'body/name must NOT have fewer than 1 characters',
      );
      expectError(
        await post({ name: 'a'.repeat(64) }),
        400,
        'invalid_request',
        'body/name must NOT have more than 63 characters',
      );
      const longest = `a${'b.c_d-e'.repeat(8)}${'f'.repeat(5)}z`;
      expect(longest).toHaveLength(63);
      expect((await post({ name: longest })).statusCode).toBe(201);
    });

    it('answers 400 to a bad expires_at, an unknown field, a missing name or a non-JSON body', async () => {
      for (const expires of ['tomorrow', '2099-13-01T00:00:00Z', '2099-01-01', 1893456000, 0, false]) {
        expectError(
          await post({ name: principalName(), expires_at: expires }),
          400,
          'invalid_request',
          /^body\/expires_at /,
        );
      }
      expectError(
        await post({ name: principalName(), owner: 'me' }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expectError(
        await post({ name: principalName(), api_key: generateApiKey('agent') }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expectError(
        await post({ description: 'no name' }),
        400,
        'invalid_request',
        "body must have required property 'name'",
      );
      expectError(
        await post({ name: principalName(), description: 'x'.repeat(1025) }),
        400,
        'invalid_request',
        'body/description must NOT have more than 1024 characters',
      );
      expectError(
        await api.request({
          method: 'POST',
          url: '/v1/agents',
          payload: '{"name":',
          headers: { 'content-type': 'application/json' },
        }),
        400,
        'invalid_request',
        'body is not valid JSON',
      );
    });
  });

  describe('list and get', () => {
    it('lists the live agents of the organization by name, with the same fields as get', async () => {
      const b = (await createAgent(api, { name: principalName('list-b') })).agent;
      const a = (await createAgent(api, { name: principalName('list-a') })).agent;
      const { res, agents } = await list();
      expect(Object.keys(res.json() as object)).toEqual(['agents']);
      const names = agents.map((x) => x.name);
      expect(names).toEqual([...names].sort());
      expect(agents).toContainEqual(a);
      expect(agents).toContainEqual(b);
      for (const x of agents) expect(Object.keys(x).sort()).toEqual(AGENT_FIELDS);
      // Another organization's agent is not listed.
      expect(agents.map((x) => x.id)).not.toContain(other.agentId);
    });

    it('answers 404 to an unknown id and 400 to an id that is not a UUID', async () => {
      expectError(await get(randomUUID()), 404, 'not_found', 'agent not found');
      expectError(await get('not-a-uuid'), 400, 'invalid_request', 'params/id must match format "uuid"');
      expectError(
        await patch('12345', { disabled: true }),
        400,
        'invalid_request',
        'params/id must match format "uuid"',
      );
      expectError(await remove(randomUUID()), 404, 'not_found', 'agent not found');
      expectError(await rotate(randomUUID()), 404, 'not_found', 'agent not found');
      expectError(await patch(randomUUID(), { disabled: true }), 404, 'not_found', 'agent not found');
    });

    it("answers 404 to another organization's agent on every call and changes nothing", async () => {
      const id = other.agentId;
      const before = await api.db.pool.query('SELECT * FROM agents WHERE id = $1', [id]);
      expectError(await get(id), 404, 'not_found', 'agent not found');
      expectError(await patch(id, { disabled: true }), 404, 'not_found', 'agent not found');
      expectError(await patch(id, { description: 'mine' }), 404, 'not_found', 'agent not found');
      expectError(await rotate(id), 404, 'not_found', 'agent not found');
      expectError(await remove(id), 404, 'not_found', 'agent not found');
      const after = await api.db.pool.query('SELECT * FROM agents WHERE id = $1', [id]);
      expect(after.rows).toEqual(before.rows);
      const keys = await api.db.pool.query(
        'SELECT count(*)::int AS n FROM api_keys WHERE principal_id = $1',
        [id],
      );
      expect(keys.rows).toEqual([{ n: 0 }]);

      // And the other organization's admin sees none of ours.
      const ours = (await createAgent(api)).agent;
      const theirToken = await tokenFor(api, other.admin.apiKey);
      const theirs = await api.request({ method: 'GET', url: '/v1/agents', token: theirToken });
      expect(theirs.statusCode).toBe(200);
      expect((theirs.json() as { agents: ApiAgent[] }).agents.map((x) => x.id)).toEqual([other.agentId]);
      expectError(
        await api.request({ method: 'GET', url: url(ours.id), token: theirToken }),
        404,
        'not_found',
        'agent not found',
      );
      expectError(
        await api.request({ method: 'DELETE', url: url(ours.id), token: theirToken }),
        404,
        'not_found',
        'agent not found',
      );
      expect((await get(ours.id)).json()).toEqual(ours);
    });
  });

  describe('patch', () => {
    it('changes the description only, and audits agent.update', async () => {
      const { agent } = await createAgent(api, { description: 'old' });
      const res = await patch(agent.id, { description: 'new words' });
      expect(res.statusCode).toBe(200);
      const after = res.json() as ApiAgent;
      expect(after).toEqual({ ...agent, description: 'new words', updated_at: after.updated_at });
      expect(Date.parse(after.updated_at)).toBeGreaterThanOrEqual(Date.parse(agent.updated_at));
      expect((await get(agent.id)).json()).toEqual(after);
      expect((await auditOf(agent.id)).map((r) => r.action)).toEqual(['agent.create', 'agent.update']);
    });

    it('disabling revokes the live token and the key at once; enabling lets the key work again', async () => {
      const { agent, api_key: key } = await createAgent(api);
      const token = await agentTokenFor(api, agent.id, key);
      await expectWorks(token);

      const disabled = await patch(agent.id, { disabled: true });
      expect(disabled.statusCode).toBe(200);
      expect(disabled.json()).toMatchObject({ id: agent.id, disabled: true });
      expect((await get(agent.id)).json()).toMatchObject({ disabled: true });
      expectError(await probe(token), 401, 'principal_revoked', REVOKED);
      expectError(await agentExchange(api, agent.id, key), 401, 'principal_revoked', AGENT_REVOKED);
      // Disabling twice is idempotent.
      expect((await patch(agent.id, { disabled: true })).json()).toMatchObject({ disabled: true });
      expectError(await agentExchange(api, agent.id, key), 401, 'principal_revoked', AGENT_REVOKED);

      const enabled = await patch(agent.id, { disabled: false });
      expect(enabled.statusCode).toBe(200);
      expect(enabled.json()).toMatchObject({ id: agent.id, disabled: false });
      await expectWorks(await agentTokenFor(api, agent.id, key));

      expect((await auditOf(agent.id)).map((r) => r.action)).toEqual([
        'agent.create',
        'agent.disable',
        'agent.disable',
        'agent.enable',
      ]);
      const refused = await api.db.pool.query(
        `SELECT reason FROM audit_events WHERE action = 'auth.agent_token' AND actor = $1 AND decision = 'deny'`,
        [`agent:${agent.id}`],
      );
      expect(refused.rows).toEqual([{ reason: 'principal_revoked' }, { reason: 'principal_revoked' }]);
    });

    it('an expiry set in the past refuses the live token and the exchange at once; clearing it restores', async () => {
      const { agent, api_key: key } = await createAgent(api, { expires_at: '2099-01-01T00:00:00Z' });
      const token = await agentTokenFor(api, agent.id, key);
      await expectWorks(token);

      const past = new Date(Date.now() - 60_000).toISOString();
      const res = await patch(agent.id, { expires_at: past });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ id: agent.id, expires_at: past, disabled: false });
      expectError(await probe(token), 401, 'principal_revoked', REVOKED);
      expectError(await agentExchange(api, agent.id, key), 401, 'principal_revoked', AGENT_REVOKED);

      const cleared = await patch(agent.id, { expires_at: null });
      expect(cleared.json()).toMatchObject({ expires_at: null });
      await expectWorks(await agentTokenFor(api, agent.id, key));
    });

    it('an expiry that passes stops a live token without any other change', async () => {
      const { agent, api_key: key } = await createAgent(api);
      const token = await agentTokenFor(api, agent.id, key);
      await expectWorks(token); // caches the agent's status
      const soon = new Date(Date.now() + 1500).toISOString();
      expect((await patch(agent.id, { expires_at: soon })).statusCode).toBe(200);
      await expectWorks(token);
      await new Promise((r) => setTimeout(r, Date.parse(soon) - Date.now() + 100));
      expectError(await probe(token), 401, 'principal_revoked', REVOKED);
      expectError(await agentExchange(api, agent.id, key), 401, 'principal_revoked', AGENT_REVOKED);
    });

    it('answers 400 to an empty patch, an unknown field or a bad value, and changes nothing', async () => {
      const { agent } = await createAgent(api);
      expectError(
        await patch(agent.id, {}),
        400,
        'invalid_request',
        'body must NOT have fewer than 1 properties',
      );
      expectError(
        await patch(agent.id, { name: 'renamed' }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expectError(
        await patch(agent.id, { disabled: 'yes' }),
        400,
        'invalid_request',
        'body/disabled must be boolean',
      );
      for (const expires of ['never', 0, false, 1893456000]) {
        expectError(
          await patch(agent.id, { expires_at: expires }),
          400,
          'invalid_request',
          /^body\/expires_at /,
        );
      }
      expect((await get(agent.id)).json()).toEqual(agent);
    });

    it('refuses a disabled that is not a JSON boolean rather than coercing it', async () => {
      // null, 0 or "false" would otherwise re-enable a disabled agent.
      const { agent, api_key: key } = await createAgent(api);
      const off = (await patch(agent.id, { disabled: true })).json() as ApiAgent;
      for (const disabled of [null, 0, 'false', 1, 'true']) {
        expectError(
          await patch(agent.id, { disabled }),
          400,
          'invalid_request',
          'body/disabled must be boolean',
        );
      }
      expect((await get(agent.id)).json()).toEqual(off);
      expectError(await agentExchange(api, agent.id, key), 401, 'principal_revoked', AGENT_REVOKED);
    });

    it('refuses an empty expires_at rather than coercing it to null (no expiry)', async () => {
      // "" would otherwise clear the expiry and bring an expired agent back.
      const past = new Date(Date.now() - 60_000).toISOString();
      const { agent: created, api_key: key } = await createAgent(api);
      const agent = (await patch(created.id, { expires_at: past })).json() as ApiAgent;
      expect(agent.expires_at).toBe(past);
      expectError(await patch(agent.id, { expires_at: '' }), 400, 'invalid_request', /^body\/expires_at /);
      expect((await get(agent.id)).json()).toEqual(agent);
      expectError(await agentExchange(api, agent.id, key), 401, 'principal_revoked', AGENT_REVOKED);
      const name = principalName();
      expectError(await post({ name, expires_at: '' }), 400, 'invalid_request', /^body\/expires_at /);
      expect((await api.db.pool.query('SELECT 1 FROM agents WHERE name = $1', [name])).rowCount).toBe(0);
    });
  });

  describe('rotate-key', () => {
    it('replaces the key: the old key and its tokens stop at once, the new key works', async () => {
      const { agent, api_key: oldKey } = await createAgent(api);
      const oldToken = await agentTokenFor(api, agent.id, oldKey);
      await expectWorks(oldToken);

      const res = await rotate(agent.id);
      expect(res.statusCode).toBe(200);
      const body = res.json() as { agent: ApiAgent; api_key: string };
      expect(Object.keys(body).sort()).toEqual(['agent', 'api_key']);
      expect(body.agent).toEqual(agent);
      expect(body.api_key).toMatch(/^ocv_[A-Za-z0-9_-]{59}$/);
      expect(body.api_key).not.toBe(oldKey);

      expectError(
        await agentExchange(api, agent.id, oldKey),
        401,
        'invalid_credentials',
        BAD_AGENT_CREDENTIALS,
      );
      expectError(await probe(oldToken), 401, 'principal_revoked', REVOKED);
      await expectWorks(await agentTokenFor(api, agent.id, body.api_key));

      const keys = await api.db.pool.query<{ revoked: boolean }>(
        'SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE principal_id = $1 ORDER BY created_at',
        [agent.id],
      );
      expect(keys.rows).toEqual([{ revoked: true }, { revoked: false }]);
      await expectStoredNowhere(api, body.api_key.slice(20));
      expect((await auditOf(agent.id)).map((r) => r.action)).toEqual(['agent.create', 'agent.rotate_key']);
      expect(JSON.stringify(await auditOf(agent.id))).not.toContain(body.api_key);
    });
  });

  describe('delete', () => {
    it('answers 204 and removes the agent, its keys, its live tokens and its grants', async () => {
      const { agent, api_key: key } = await createAgent(api);
      const token = await agentTokenFor(api, agent.id, key);
      const grant = await createPolicy(api, vaultId, {
        principal_type: 'agent',
        principal_id: agent.id,
        secret_path_pattern: 'ci/**',
        permissions: ['read'],
      });
      const otherVault = await createVault(api);
      await createPolicy(api, otherVault.id, {
        principal_type: 'agent',
        principal_id: agent.id,
        secret_path_pattern: '*',
        permissions: ['list'],
      });
      // The grants work before the delete: the agent sees both vaults.
      const seen = await probe(token);
      expect((seen.json() as { vaults: Array<{ id: string }> }).vaults.map((v) => v.id).sort()).toEqual(
        [vaultId, otherVault.id].sort(),
      );

      const res = await remove(agent.id);
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');

      expectError(await get(agent.id), 404, 'not_found', 'agent not found');
      expect((await list()).agents.map((x) => x.id)).not.toContain(agent.id);
      expectError(await agentExchange(api, agent.id, key), 401, 'invalid_credentials', BAD_AGENT_CREDENTIALS);
      expectError(await probe(token), 401, 'principal_revoked', REVOKED);
      expectError(await remove(agent.id), 404, 'not_found', 'agent not found');
      expectError(await rotate(agent.id), 404, 'not_found', 'agent not found');
      expectError(await patch(agent.id, { disabled: false }), 404, 'not_found', 'agent not found');

      const policies = await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/policies` });
      expect((policies.json() as { policies: ApiPolicy[] }).policies.map((p) => p.id)).not.toContain(
        grant.id,
      );
      const rows = await api.db.pool.query(
        `SELECT count(*)::int AS n FROM policies WHERE principal_type = 'agent' AND principal_id = $1`,
        [agent.id],
      );
      expect(rows.rows).toEqual([{ n: 0 }]);
      const keys = await api.db.pool.query(
        'SELECT count(*)::int AS n FROM api_keys WHERE principal_id = $1 AND revoked_at IS NULL',
        [agent.id],
      );
      expect(keys.rows).toEqual([{ n: 0 }]);
      expect(await auditOf(agent.id)).toEqual([
        expect.objectContaining({ action: 'agent.create' }),
        {
          action: 'agent.delete',
          actor: `user:${adminId}`,
          request_id: res.headers['x-request-id'],
          details: { agent: agent.id, grants_removed: 2 },
        },
      ]);
      // A deleted agent's id cannot be granted anything any more.
      expectError(
        await api.request({
          method: 'POST',
          url: `/v1/vaults/${vaultId}/policies`,
          payload: {
            principal_type: 'agent',
            principal_id: agent.id,
            secret_path_pattern: 'ci/**',
            permissions: ['read'],
          },
        }),
        400,
        'invalid_request',
        'principal_id: no agent with that id in this organization',
      );
    });

    it('frees the name for a new agent, whose old key does not carry over', async () => {
      const { agent, api_key: key } = await createAgent(api);
      expect((await remove(agent.id)).statusCode).toBe(204);
      const again = await createAgent(api, { name: agent.name });
      expect(again.agent.id).not.toBe(agent.id);
      expectError(
        await agentExchange(api, again.agent.id, key),
        401,
        'invalid_credentials',
        BAD_AGENT_CREDENTIALS,
      );
      await expectWorks(await agentTokenFor(api, again.agent.id, again.api_key));
    });
  });

  describe('agent token exchange', () => {
    let agent: ApiAgent;
    let key: string;

    beforeAll(async () => {
      ({ agent, api_key: key } = await createAgent(api));
    });

    it('answers a wrong agent id exactly as a wrong key (no oracle)', async () => {
      const another = await createAgent(api);
      const last = key.at(-1) === 'A' ? 'B' : 'A';
      const attempts: Array<[string, string, string]> = [
        ['an unknown agent id with a valid key', randomUUID(), key],
        ["another agent's id with a valid key", another.agent.id, key],
        ["an agent's id with another agent's key", agent.id, another.api_key],
        ['a key that was never issued', agent.id, generateApiKey('agent')],
        ['the key with its secret part changed', agent.id, `${key.slice(0, -1)}${last}`],
        ['a user key', agent.id, api.adminKey],
        ['garbage', agent.id, 'not-a-key'],
        ["another organization's agent with a valid key", other.agentId, key],
      ];
      const bodies = new Set<string>();
      for (const [what, id, apiKey] of attempts) {
        const res = await agentExchange(api, id, apiKey);
        expect({ what, status: res.statusCode }).toEqual({ what, status: 401 });
        expectError(res, 401, 'invalid_credentials', BAD_AGENT_CREDENTIALS);
        const { error } = res.json() as { error: Record<string, string> };
        bodies.add(JSON.stringify({ ...error, request_id: undefined }));
        expect(Object.keys(res.headers)).toEqual(
          Object.keys((await agentExchange(api, randomUUID(), generateApiKey('agent'))).headers),
        );
      }
      expect(bodies.size).toBe(1);
      // The right pair still works.
      await expectWorks(await agentTokenFor(api, agent.id, key));
    });

    it('answers 400 to a malformed body', async () => {
      const exchange = (payload: unknown) =>
        api.request({ method: 'POST', url: '/v1/auth/agent-token', payload: payload as object, token: null });
      expectError(await exchange({}), 400, 'invalid_request', /^body must have required property/);
      expectError(
        await exchange({ api_key: key }),
        400,
        'invalid_request',
        "body must have required property 'agent_id'",
      );
      expectError(
        await exchange({ agent_id: agent.id }),
        400,
        'invalid_request',
        "body must have required property 'api_key'",
      );
      expectError(
        await exchange({ agent_id: 'agent-1', api_key: key }),
        400,
        'invalid_request',
        'body/agent_id must match format "uuid"',
      );
      expectError(
        await exchange({ agent_id: agent.id, api_key: '' }),
        400,
        'invalid_request',
        'body/api_key must NOT have fewer than 1 characters',
      );
      expectError(
        await exchange({ agent_id: agent.id, api_key: key, role: 'admin' }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expectError(
        await api.request({
          method: 'POST',
          url: '/v1/auth/agent-token',
          payload: 'not json',
          headers: { 'content-type': 'application/json' },
          token: null,
        }),
        400,
        'invalid_request',
        'body is not valid JSON',
      );
    });
  });

  describe('authorization', () => {
    it('answers 403 admin_required to every management call by a member or an agent, and changes nothing', async () => {
      const { agent, api_key: key } = await createAgent(api);
      const agentToken = await agentTokenFor(api, agent.id, key);
      const before = await api.db.pool.query('SELECT * FROM agents ORDER BY id');
      const keysBefore = await api.db.pool.query('SELECT * FROM api_keys ORDER BY id');
      const calls: Array<['GET' | 'POST' | 'PATCH' | 'DELETE', string, object?]> = [
        ['POST', '/v1/agents', { name: principalName('sneaky') }],
        ['GET', '/v1/agents'],
        ['GET', url(agent.id)],
        ['GET', url(randomUUID())],
        ['PATCH', url(agent.id), { disabled: true }],
        ['PATCH', url(agent.id), { expires_at: '2000-01-01T00:00:00Z' }],
        ['POST', url(agent.id, '/rotate-key')],
        ['DELETE', url(agent.id)],
      ];
      for (const token of [memberToken, agentToken]) {
        for (const [method, target, payload] of calls) {
          const res = await api.request({ method, url: target, token, ...(payload ? { payload } : {}) });
          expect({ method, target, status: res.statusCode }).toEqual({ method, target, status: 403 });
          expectError(res, 403, 'admin_required', ADMIN_ONLY);
          expect(res.body).not.toContain('ocv_');
        }
      }
      expect((await api.db.pool.query('SELECT * FROM agents ORDER BY id')).rows).toEqual(before.rows);
      expect((await api.db.pool.query('SELECT * FROM api_keys ORDER BY id')).rows).toEqual(keysBefore.rows);
      await expectWorks(agentToken);
    });

    it('answers 401 without a bearer token', async () => {
      for (const [method, target] of [
        ['GET', '/v1/agents'],
        ['POST', '/v1/agents'],
        ['DELETE', url(randomUUID())],
      ] as const) {
        expectError(
          await api.request({
            method,
            url: target,
            token: null,
            ...(method === 'POST' ? { payload: { name: 'x' } } : {}),
          }),
          401,
          'unauthenticated',
        );
      }
    });
  });
});
