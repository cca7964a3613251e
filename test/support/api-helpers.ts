// Small helpers for API behaviour tests: the error envelope, vaults, secrets and extra users.
import { randomBytes, randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { generateApiKey, hashApiKey } from '../../api/src/services/auth/api-keys.js';
import type { Agent as ApiAgent } from '../../contract/src/agents.js';
import type { Policy as ApiPolicy } from '../../contract/src/policies.js';
import type { User as ApiUser, Role } from '../../contract/src/users.js';
import type { Vault as ApiVault } from '../../contract/src/vaults.js';
import type { TestApi } from './api.js';

// The wire shapes tests read back, under the names the suites use.
export type { ApiAgent, ApiPolicy, ApiUser, ApiVault };

/**
 * Asserts the error envelope exactly: status, code, message (string: exact; RegExp: match) and
 * a request id equal to the response's x-request-id header.
 */
export function expectError(
  res: LightMyRequestResponse,
  status: number,
  code: string,
  message?: string | RegExp,
): void {
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status });
  const body = res.json() as { error: { code: string; message: string; request_id: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'request_id']);
  expect(body.error.code).toBe(code);
  expect(body.error.request_id).toBe(res.headers['x-request-id']);
  if (typeof message === 'string') expect(body.error.message).toBe(message);
  else if (message) expect(body.error.message).toMatch(message);
  else expect(body.error.message.length).toBeGreaterThan(0);
}

/** A fresh DNS-style vault name. */
export function vaultName(prefix = 'v'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export async function createVault(
  api: TestApi,
  body: { name?: string; description?: string; custody?: 'wrapped' | 'kms' } = {},
): Promise<ApiVault> {
  const res = await api.request({
    method: 'POST',
    url: '/v1/vaults',
    payload: { name: vaultName(), ...body },
  });
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 201 });
  return res.json() as ApiVault;
}

export function secretUrl(vaultId: string, path: string, query = ''): string {
  return `/v1/vaults/${vaultId}/secrets/${path}${query}`;
}

export async function putSecret(
  api: TestApi,
  vaultId: string,
  path: string,
  body: Record<string, unknown>,
  token?: string,
): Promise<LightMyRequestResponse> {
  return api.request({
    method: 'PUT',
    url: secretUrl(vaultId, path),
    payload: { type: 'password', ...body },
    ...(token === undefined ? {} : { token }),
  });
}

/** Writes and asserts success; returns the version written. */
export async function writeSecret(
  api: TestApi,
  vaultId: string,
  path: string,
  value: string,
  extra: Record<string, unknown> = {},
): Promise<number> {
  const res = await putSecret(api, vaultId, path, { value, ...extra });
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 200 });
  return (res.json() as { version: number }).version;
}

export async function orgId(api: TestApi): Promise<string> {
  const { rows } = await api.db.pool.query<{ id: string }>('SELECT id FROM orgs');
  expect(rows).toHaveLength(1);
  return (rows[0] as { id: string }).id;
}

/** A user inserted directly (role member unless told), with an API key of its own. */
export async function createUser(
  api: TestApi,
  role: Role = 'member',
): Promise<{ userId: string; apiKey: string }> {
  return createUserIn(api, await orgId(api), role);
}

export async function exchange(api: TestApi, apiKey: string): Promise<LightMyRequestResponse> {
  return api.request({ method: 'POST', url: '/v1/auth/token', payload: { api_key: apiKey }, token: null });
}

export async function tokenFor(api: TestApi, apiKey: string): Promise<string> {
  const res = await exchange(api, apiKey);
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 200 });
  return (res.json() as { access_token: string }).access_token;
}

// ---------------------------------------------------------------------------------------------
// Identity management: agents, policies, a second organization, users in a given organization.

/** A fresh agent or user name (lowercase, digits and dashes). */
export function principalName(prefix = 'p'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** POST /v1/agents as the admin; asserts 201. */
export async function createAgent(
  api: TestApi,
  body: { name?: string; description?: string; expires_at?: string | null } = {},
): Promise<{ agent: ApiAgent; api_key: string }> {
  const res = await api.request({
    method: 'POST',
    url: '/v1/agents',
    payload: { name: principalName('agent'), ...body },
  });
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 201 });
  return res.json() as { agent: ApiAgent; api_key: string };
}

export async function agentExchange(
  api: TestApi,
  agentId: string,
  apiKey: string,
): Promise<LightMyRequestResponse> {
  return api.request({
    method: 'POST',
    url: '/v1/auth/agent-token',
    payload: { agent_id: agentId, api_key: apiKey },
    token: null,
  });
}

export async function agentTokenFor(api: TestApi, agentId: string, apiKey: string): Promise<string> {
  const res = await agentExchange(api, agentId, apiKey);
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 200 });
  return (res.json() as { access_token: string }).access_token;
}

/** POST /v1/vaults/:id/policies as the admin; asserts 201. */
export async function createPolicy(
  api: TestApi,
  vaultId: string,
  body: Record<string, unknown>,
): Promise<ApiPolicy> {
  const res = await api.request({ method: 'POST', url: `/v1/vaults/${vaultId}/policies`, payload: body });
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 201 });
  return res.json() as ApiPolicy;
}

/**
 * A user inserted directly into the given organization, with an API key of its own. Unlike
 * createUser it works when there is more than one organization (see createOrg).
 */
export async function createUserIn(
  api: TestApi,
  org: string,
  role: Role = 'member',
): Promise<{ userId: string; apiKey: string }> {
  const userId = randomUUID();
  const apiKey = generateApiKey('user');
  await api.db.pool.query('INSERT INTO users (id, org_id, name, role) VALUES ($1, $2, $3, $4)', [
    userId,
    org,
    `user-${userId.slice(0, 8)}`,
    role,
  ]);
  await api.db.pool.query(
    `INSERT INTO api_keys (id, org_id, principal_type, principal_id, lookup, key_hash)
     VALUES ($1, $2, 'user', $3, $4, $5)`,
    [randomUUID(), org, userId, apiKey.slice(4, 20), await hashApiKey(apiKey)],
  );
  return { userId, apiKey };
}

/**
 * A second organization inserted directly, with an admin user and an agent of its own. After
 * this, orgId() and createUser() (which expect a single organization) fail: use createUserIn.
 */
export async function createOrg(api: TestApi): Promise<{
  orgId: string;
  admin: { userId: string; apiKey: string };
  agentId: string;
}> {
  const org = randomUUID();
  await api.db.pool.query('INSERT INTO orgs (id, name) VALUES ($1, $2)', [org, principalName('org')]);
  const admin = await createUserIn(api, org, 'admin');
  const agentId = randomUUID();
  await api.db.pool.query(`INSERT INTO agents (id, org_id, name, created_by) VALUES ($1, $2, $3, 'test')`, [
    agentId,
    org,
    principalName('other-agent'),
  ]);
  return { orgId: org, admin, agentId };
}

/**
 * Asserts that `text` (an API key, a token, a secret value) is stored nowhere in the test
 * database: every column of every table, text as is and binary as hex, base64 and UTF-8.
 */
export async function expectStoredNowhere(api: TestApi, text: string): Promise<void> {
  const { rows: tables } = await api.db.pool.query<{ name: string }>(
    `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name
       FROM information_schema.tables
      WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'`,
  );
  expect(tables.length).toBeGreaterThan(0);
  const forms = [text, Buffer.from(text).toString('hex'), Buffer.from(text).toString('base64')];
  for (const { name } of tables) {
    const { rows } = await api.db.pool.query(`SELECT * FROM ${name}`);
    for (const row of rows as Array<Record<string, unknown>>) {
      for (const [column, value] of Object.entries(row)) {
        const shown = Buffer.isBuffer(value)
          ? [value.toString('hex'), value.toString('base64'), value.toString('utf8')].join(' ')
          : typeof value === 'string'
            ? value
            : JSON.stringify(value);
        for (const form of forms) {
          expect({ table: name, column, found: shown?.includes(form) ?? false }).toEqual({
            table: name,
            column,
            found: false,
          });
        }
      }
    }
  }
}
