// Users over the API: create (the ocu_ key is shown once and stored only as a hash), list,
// patch (role changes and disabling apply to live tokens at once; nobody locks themselves
// out), rotate-key, validation, other organizations, and admin-only management.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  type ApiUser,
  createOrg,
  createUser,
  createUserIn,
  exchange,
  expectError,
  expectStoredNowhere,
  orgId,
  principalName,
  tokenFor,
  vaultName,
} from '../../../../../test/support/api-helpers.js';
import { verifyApiKey } from '../../../services/auth/api-keys.js';
import { bootstrapAdminId, principalAudit } from './test-helpers.js';

const USER_FIELDS = ['created_at', 'disabled', 'id', 'name', 'role'];
const NAME_RULE = 'name: lowercase letters, digits, . _ @ - (1-128), starting and ending alphanumeric';
const ADMIN_ONLY = 'only organization admins may administer the organization';
const SELF = 'you cannot disable or demote yourself; ask another admin';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('users', () => {
  let api: TestApi;
  let org: string;
  let adminId: string;
  let member: { userId: string; apiKey: string };
  let memberToken: string;
  let other: Awaited<ReturnType<typeof createOrg>>;

  beforeAll(async () => {
    // Many token exchanges from one client address: no rate limit in this suite.
    api = await startTestApi({ ONECLAW_AUTH_RATE_LIMIT: '0' });
    org = await orgId(api);
    adminId = await bootstrapAdminId(api);
    member = await createUser(api, 'member');
    memberToken = await tokenFor(api, member.apiKey);
    // Last, because createUser/orgId expect a single organization.
    other = await createOrg(api);
  });
  afterAll(async () => {
    await api?.close();
  });

  const post = (payload: unknown) =>
    api.request({ method: 'POST', url: '/v1/users', payload: payload as object });
  const create = async (role: 'admin' | 'member', name = principalName('user')) => {
    const res = await post({ name, role });
    expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 201 });
    return res.json() as { user: ApiUser; api_key: string };
  };
  const list = async () => {
    const res = await api.request({ method: 'GET', url: '/v1/users' });
    expect(res.statusCode).toBe(200);
    return { res, users: (res.json() as { users: ApiUser[] }).users };
  };
  const patch = (id: string, payload: unknown, token?: string) =>
    api.request({
      method: 'PATCH',
      url: `/v1/users/${id}`,
      payload: payload as object,
      ...(token ? { token } : {}),
    });
  const rotate = (id: string) => api.request({ method: 'POST', url: `/v1/users/${id}/rotate-key` });
  const createVaultAs = (token: string) =>
    api.request({ method: 'POST', url: '/v1/vaults', payload: { name: vaultName('by-user') }, token });
  const listVaults = (token: string) => api.request({ method: 'GET', url: '/v1/vaults', token });
  const auditOf = (userId: string) => principalAudit(api, 'user', userId);

  describe('create', () => {
    it('answers 201 with the user and an ocu_ key that exchanges for a token with that role', async () => {
      const name = principalName('alice');
      const before = Date.now();
      const res = await post({ name, role: 'member' });
      expect(res.statusCode).toBe(201);
      const body = res.json() as { user: ApiUser; api_key: string };
      expect(Object.keys(body).sort()).toEqual(['api_key', 'user']);
      expect(Object.keys(body.user).sort()).toEqual(USER_FIELDS);
      expect(body.user).toMatchObject({ name, role: 'member', disabled: false });
      expect(body.user.id).toMatch(UUID_V4);
      expect(Date.parse(body.user.created_at)).toBeGreaterThanOrEqual(before - 1000);
      expect(body.api_key).toMatch(/^ocu_[A-Za-z0-9_-]{59}$/);

      const exchanged = await exchange(api, body.api_key);
      expect(exchanged.statusCode).toBe(200);
      expect(exchanged.json()).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
      const token = (exchanged.json() as { access_token: string }).access_token;
      // A member: sees no vaults, may not create one.
      expect((await listVaults(token)).json()).toEqual({ vaults: [] });
      expectError(await createVaultAs(token), 403, 'admin_required', ADMIN_ONLY);

      // An admin may.
      const admin = await create('admin');
      expect(admin.user.role).toBe('admin');
      expect((await createVaultAs(await tokenFor(api, admin.api_key))).statusCode).toBe(201);

      expect(await auditOf(body.user.id)).toEqual([
        {
          action: 'user.create',
          actor: `user:${adminId}`,
          request_id: res.headers['x-request-id'],
          details: { user: body.user.id },
        },
      ]);
    });

    it('shows the key once and stores only its hash', async () => {
      const { user, api_key: key } = await create('member');
      const { rows } = await api.db.pool.query<{ key_hash: Buffer; principal_type: string }>(
        'SELECT key_hash, principal_type FROM api_keys WHERE principal_id = $1',
        [user.id],
      );
      expect(rows).toHaveLength(1);
      const row = rows[0] as { key_hash: Buffer; principal_type: string };
      expect(row.principal_type).toBe('user');
      expect(await verifyApiKey(key, row.key_hash)).toBe(true);
      const { res } = await list();
      expect(res.body).not.toContain(key.slice(20));
      expect(res.body).not.toContain(row.key_hash.toString('hex'));
      expect(res.body).not.toMatch(/hash|api_key|ocu_/);
      await expectStoredNowhere(api, key);
      await expectStoredNowhere(api, key.slice(20));
      // The audit record names the user, never the key.
      expect(JSON.stringify(await auditOf(user.id))).not.toContain(key.slice(20));
    });

    it('answers 409 to a duplicate name (also the bootstrap admin) and creates nothing', async () => {
      const { user } = await create('member');
      for (const name of [user.name, 'admin']) {
        expectError(
          await post({ name, role: 'admin' }),
          409,
          'conflict',
          `a user named ${name} already exists`,
        );
        const n = await api.db.pool.query(
          'SELECT count(*)::int AS n FROM users WHERE name = $1 AND org_id = $2',
          [name, org],
        );
        expect(n.rows).toEqual([{ n: 1 }]);
      }
      expect((await api.db.pool.query('SELECT role FROM users WHERE id = $1', [user.id])).rows).toEqual([
        { role: 'member' },
      ]);
    });

    it.each(['Alice', 'al ice', '-alice', 'alice.', '@alice', 'al/ice', 'alïce'])(
      'answers 400 to the invalid name %j',
      async (name) => {
        expectError(await post({ name, role: 'member' }), 400, 'invalid_request', NAME_RULE);
      },
    );

    it('accepts names with . _ @ - inside', async () => {
      const name = `${principalName('bob')}.smith_jr@example-corp.io`;
      expect((await create('member', name)).user.name).toBe(name);
    });

    it('answers 400 to a bad role, a missing field, an unknown field or a bad name length', async () => {
      for (const role of ['owner', 'Admin', '', null, 1]) {
        expectError(await post({ name: principalName(), role }), 400, 'invalid_request', /^body\/role /);
      }
      expectError(
        await post({ name: principalName() }),
        400,
        'invalid_request',
        "body must have required property 'role'",
      );
      expectError(
        await post({ role: 'member' }),
        400,
        'invalid_request',
        "body must have required property 'name'",
      );
      expectError(
        await post({ name: principalName(), role: 'member', disabled: true }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expectError(
        await post({ name: '', role: 'member' }),
        400,
        'invalid_request',
        'body/name must NOT have fewer than 1 characters',
      );
      expectError(
        await post({ name: 'a'.repeat(129), role: 'member' }),
        400,
        'invalid_request',
        'body/name must NOT have more than 128 characters',
      );
    });
  });

  describe('list', () => {
    it("lists the organization's users by name, with no keys and no other organization's users", async () => {
      const a = (await create('member', principalName('list-a'))).user;
      const b = (await create('admin', principalName('list-b'))).user;
      const { res, users } = await list();
      expect(Object.keys(res.json() as object)).toEqual(['users']);
      const names = users.map((u) => u.name);
      expect(names).toEqual([...names].sort());
      expect(users).toContainEqual(a);
      expect(users).toContainEqual(b);
      expect(users).toContainEqual(
        expect.objectContaining({ id: adminId, name: 'admin', role: 'admin', disabled: false }),
      );
      expect(users).toContainEqual(expect.objectContaining({ id: member.userId, role: 'member' }));
      for (const u of users) expect(Object.keys(u).sort()).toEqual(USER_FIELDS);
      expect(users.map((u) => u.id)).not.toContain(other.admin.userId);

      // The other organization's admin sees only their own.
      const theirs = await api.request({
        method: 'GET',
        url: '/v1/users',
        token: await tokenFor(api, other.admin.apiKey),
      });
      expect((theirs.json() as { users: ApiUser[] }).users.map((u) => u.id)).toEqual([other.admin.userId]);
    });
  });

  describe('patch', () => {
    it('promoting a member applies to the token they already hold, and so does demoting', async () => {
      const user = await createUserIn(api, org, 'member');
      const token = await tokenFor(api, user.apiKey);
      expectError(await createVaultAs(token), 403, 'admin_required', ADMIN_ONLY);

      const promoted = await patch(user.userId, { role: 'admin' });
      expect(promoted.statusCode).toBe(200);
      expect(promoted.json()).toMatchObject({ id: user.userId, role: 'admin', disabled: false });
      expect(Object.keys(promoted.json() as object).sort()).toEqual(USER_FIELDS);
      // The same token, not a new one.
      expect((await createVaultAs(token)).statusCode).toBe(201);
      expect((await api.request({ method: 'GET', url: '/v1/users', token })).statusCode).toBe(200);

      const demoted = await patch(user.userId, { role: 'member' });
      expect(demoted.json()).toMatchObject({ role: 'member' });
      expectError(await createVaultAs(token), 403, 'admin_required', ADMIN_ONLY);
      expectError(
        await api.request({ method: 'GET', url: '/v1/users', token }),
        403,
        'admin_required',
        ADMIN_ONLY,
      );
      expect((await listVaults(token)).statusCode).toBe(200);

      expect((await auditOf(user.userId)).map((r) => [r.action, r.actor])).toEqual([
        ['user.update', `user:${adminId}`],
        ['user.update', `user:${adminId}`],
      ]);
    });

    it('disabling revokes the live token and the key at once; enabling lets the key work again', async () => {
      const { user, api_key: key } = await create('admin');
      const token = await tokenFor(api, key);
      expect((await listVaults(token)).statusCode).toBe(200);

      const disabled = await patch(user.id, { disabled: true });
      expect(disabled.statusCode).toBe(200);
      expect(disabled.json()).toEqual({ ...user, disabled: true });
      expectError(await listVaults(token), 401, 'principal_revoked', 'the token was revoked');
      expectError(await createVaultAs(token), 401, 'principal_revoked', 'the token was revoked');
      expectError(await exchange(api, key), 401, 'principal_revoked', 'the user is disabled');
      expect((await list()).users).toContainEqual({ ...user, disabled: true });

      const enabled = await patch(user.id, { disabled: false });
      expect(enabled.json()).toEqual(user);
      expect((await createVaultAs(await tokenFor(api, key))).statusCode).toBe(201);
      expect((await auditOf(user.id)).map((r) => r.action)).toEqual([
        'user.create',
        'user.disable',
        'user.enable',
      ]);
    });

    it('changes role and disabled together', async () => {
      const { user, api_key: key } = await create('member');
      const res = await patch(user.id, { role: 'admin', disabled: true });
      expect(res.json()).toEqual({ ...user, role: 'admin', disabled: true });
      expectError(await exchange(api, key), 401, 'principal_revoked', 'the user is disabled');
    });

    it('answers 409 to an admin disabling or demoting themselves, and changes nothing', async () => {
      expectError(await patch(adminId, { disabled: true }), 409, 'conflict', SELF);
      expectError(await patch(adminId, { role: 'member' }), 409, 'conflict', SELF);
      expectError(await patch(adminId, { role: 'member', disabled: false }), 409, 'conflict', SELF);
      expectError(await patch(adminId, { role: 'admin', disabled: true }), 409, 'conflict', SELF);
      const { rows } = await api.db.pool.query('SELECT role, disabled_at FROM users WHERE id = $1', [
        adminId,
      ]);
      expect(rows).toEqual([{ role: 'admin', disabled_at: null }]);
      expect((await createVaultAs(await api.adminToken())).statusCode).toBe(201);
      // What changes nothing is allowed.
      const same = await patch(adminId, { role: 'admin', disabled: false });
      expect(same.statusCode).toBe(200);
      expect(same.json()).toMatchObject({ id: adminId, role: 'admin', disabled: false });

      // The same holds for any admin, under their own token.
      const second = await create('admin');
      const secondToken = await tokenFor(api, second.api_key);
      expectError(await patch(second.user.id, { disabled: true }, secondToken), 409, 'conflict', SELF);
      expectError(await patch(second.user.id, { role: 'member' }, secondToken), 409, 'conflict', SELF);
      expect((await createVaultAs(secondToken)).statusCode).toBe(201);
      // Another admin may demote them.
      expect((await patch(second.user.id, { role: 'member' })).json()).toMatchObject({ role: 'member' });
      expectError(await createVaultAs(secondToken), 403, 'admin_required', ADMIN_ONLY);
    });

    it('answers 400 to an empty patch, an unknown field or a bad value, and 404 to an unknown user', async () => {
      const { user } = await create('member');
      expectError(
        await patch(user.id, {}),
        400,
        'invalid_request',
        'body must NOT have fewer than 1 properties',
      );
      expectError(
        await patch(user.id, { name: 'renamed' }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expectError(await patch(user.id, { role: 'root' }), 400, 'invalid_request', /^body\/role /);
      expectError(
        await patch(user.id, { disabled: 'yes' }),
        400,
        'invalid_request',
        'body/disabled must be boolean',
      );
      expectError(
        await patch('not-a-uuid', { role: 'admin' }),
        400,
        'invalid_request',
        'params/id must match format "uuid"',
      );
      expectError(await patch(randomUUID(), { role: 'admin' }), 404, 'not_found', 'user not found');
      expect((await list()).users).toContainEqual(user);
    });

    it('refuses a disabled that is not a JSON boolean rather than coercing it', async () => {
      // null, 0 or "false" would otherwise re-enable a disabled user.
      const { user, api_key: key } = await create('member');
      const off = (await patch(user.id, { disabled: true })).json() as ApiUser;
      expect(off.disabled).toBe(true);
      for (const disabled of [null, 0, 'false', 1, 'true']) {
        expectError(
          await patch(user.id, { disabled }),
          400,
          'invalid_request',
          'body/disabled must be boolean',
        );
      }
      expect((await list()).users).toContainEqual(off);
      expectError(await exchange(api, key), 401, 'principal_revoked', 'the user is disabled');
    });

    it("answers 404 to another organization's user and changes nothing", async () => {
      expectError(await patch(other.admin.userId, { disabled: true }), 404, 'not_found', 'user not found');
      expectError(await patch(other.admin.userId, { role: 'member' }), 404, 'not_found', 'user not found');
      expectError(await rotate(other.admin.userId), 404, 'not_found', 'user not found');
      const { rows } = await api.db.pool.query('SELECT role, disabled_at FROM users WHERE id = $1', [
        other.admin.userId,
      ]);
      expect(rows).toEqual([{ role: 'admin', disabled_at: null }]);
      expect((await exchange(api, other.admin.apiKey)).statusCode).toBe(200);
    });
  });

  describe('rotate-key', () => {
    it('replaces the key: the old key and its tokens stop at once, the new key works', async () => {
      const { user, api_key: oldKey } = await create('admin');
      const oldToken = await tokenFor(api, oldKey);
      const res = await rotate(user.id);
      expect(res.statusCode).toBe(200);
      const body = res.json() as { user: ApiUser; api_key: string };
      expect(Object.keys(body).sort()).toEqual(['api_key', 'user']);
      expect(body.user).toEqual(user);
      expect(body.api_key).toMatch(/^ocu_[A-Za-z0-9_-]{59}$/);
      expect(body.api_key).not.toBe(oldKey);

      expectError(await exchange(api, oldKey), 401, 'invalid_credentials', 'invalid API key');
      expectError(await listVaults(oldToken), 401, 'principal_revoked', 'the token was revoked');
      expect((await createVaultAs(await tokenFor(api, body.api_key))).statusCode).toBe(201);

      const keys = await api.db.pool.query<{ revoked: boolean }>(
        'SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE principal_id = $1 ORDER BY created_at',
        [user.id],
      );
      expect(keys.rows).toEqual([{ revoked: true }, { revoked: false }]);
      await expectStoredNowhere(api, body.api_key.slice(20));
      expect((await auditOf(user.id)).map((r) => r.action)).toEqual(['user.create', 'user.rotate_key']);
    });

    it('answers 404 to an unknown user and 400 to an id that is not a UUID', async () => {
      expectError(await rotate(randomUUID()), 404, 'not_found', 'user not found');
      expectError(await rotate('me'), 400, 'invalid_request', 'params/id must match format "uuid"');
    });
  });

  describe('authorization', () => {
    it('answers 403 admin_required to every management call by a member, and changes nothing', async () => {
      const before = await api.db.pool.query('SELECT * FROM users ORDER BY id');
      const keysBefore = await api.db.pool.query('SELECT * FROM api_keys ORDER BY id');
      const calls: Array<['GET' | 'POST' | 'PATCH', string, object?]> = [
        ['POST', '/v1/users', { name: principalName('sneaky'), role: 'admin' }],
        ['GET', '/v1/users'],
        ['PATCH', `/v1/users/${member.userId}`, { role: 'admin' }],
        ['PATCH', `/v1/users/${adminId}`, { disabled: true }],
        ['PATCH', `/v1/users/${randomUUID()}`, { role: 'admin' }],
        ['POST', `/v1/users/${adminId}/rotate-key`],
        ['POST', `/v1/users/${member.userId}/rotate-key`],
      ];
      for (const [method, url, payload] of calls) {
        const res = await api.request({ method, url, token: memberToken, ...(payload ? { payload } : {}) });
        expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 403 });
        expectError(res, 403, 'admin_required', ADMIN_ONLY);
        expect(res.body).not.toContain('ocu_');
      }
      expect((await api.db.pool.query('SELECT * FROM users ORDER BY id')).rows).toEqual(before.rows);
      expect((await api.db.pool.query('SELECT * FROM api_keys ORDER BY id')).rows).toEqual(keysBefore.rows);
      expect((await listVaults(memberToken)).statusCode).toBe(200);
      const denials = await api.db.pool.query(
        `SELECT count(*)::int AS n FROM audit_events WHERE actor = $1 AND decision = 'deny' AND reason = 'admin_required'`,
        [`user:${member.userId}`],
      );
      expect(denials.rows).toEqual([{ n: calls.length }]);
    });

    it('answers 401 without a bearer token', async () => {
      expectError(
        await api.request({ method: 'GET', url: '/v1/users', token: null }),
        401,
        'unauthenticated',
      );
      expectError(
        await api.request({
          method: 'POST',
          url: '/v1/users',
          payload: { name: 'x', role: 'admin' },
          token: null,
        }),
        401,
        'unauthenticated',
      );
    });
  });
});
