// The HTTP contract that /openapi.json promises and fuzzing relies on: 405 with `Allow` for a
// method a known path does not take, the token exchanges documented without a bearer, the rules
// of names and paths stated in the document and answered in words, and cursors whose documented
// range is the one the server takes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/api.js';
import { createVault, expectError, secretUrl, writeSecret } from '../../../test/support/api-helpers.js';

type Schema = { pattern?: string; maxLength?: number; enum?: unknown[] } & Record<string, unknown>;
interface Operation {
  security?: unknown[];
  parameters?: Array<{ name: string; in: string; schema: Schema }>;
  requestBody?: { content: { 'application/json': { schema: { properties: Record<string, Schema> } } } };
}
type OpenApi = { paths: Record<string, Record<string, Operation>> };

describe('HTTP contract', () => {
  let api: TestApi;
  let doc: OpenApi;

  beforeAll(async () => {
    api = await startTestApi();
    doc = (await api.request({ method: 'GET', url: '/openapi.json', token: null })).json() as OpenApi;
  });
  afterAll(async () => {
    await api?.close();
  });

  it('answers a wrong method on a known path 405 with Allow, before authentication', async () => {
    const v = await createVault(api);
    for (const [method, url, allow] of [
      ['PUT', '/v1/vaults', 'GET, HEAD, POST'],
      ['TRACE', `/v1/vaults/${v.id}`, 'DELETE, GET, HEAD, PATCH'],
      ['POST', secretUrl(v.id, 'a/b'), 'DELETE, GET, HEAD, PUT'],
      ['GET', '/v1/auth/token', 'POST'],
    ] as const) {
      for (const token of [undefined, null]) {
        const res = await api.request({ method, url, ...(token === null ? { token } : {}) });
        expectError(res, 405, 'method_not_allowed', `${method} is not allowed here; allowed: ${allow}`);
        expect(res.headers.allow).toBe(allow);
      }
    }
    // A body method without a content type is still a 405, not a parsing error.
    const query = await api.app.inject({ method: 'QUERY' as 'GET', url: `/v1/vaults/${v.id}` });
    expect(query.statusCode).toBe(405);
    // Unknown paths stay 404, and the methods a path takes still work.
    expectError(await api.request({ method: 'GET', url: '/v1/nothing-here' }), 404, 'not_found');
    expect((await api.request({ method: 'GET', url: `/v1/vaults/${v.id}` })).statusCode).toBe(200);
  });

  it('documents the token exchanges without a bearer and everything else with one', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (path.startsWith('/v1/auth/')) expect(op.security, `${method} ${path}`).toEqual([]);
        else expect(op.security, `${method} ${path}`).toBeUndefined();
      }
    }
  });

  it('documents secret paths as {path} with their rule, and the rules of names', () => {
    const read = doc.paths['/v1/vaults/{vault_id}/secrets/{path}']?.get;
    const param = read?.parameters?.find((p) => p.in === 'path' && p.name === 'path');
    expect(param?.schema).toMatchObject({ pattern: '^[A-Za-z0-9_-]+(\\/[A-Za-z0-9_-]+)*$', maxLength: 512 });
    expect(Object.keys(doc.paths).some((p) => p.includes('{*}'))).toBe(false);
    const vaultName =
      doc.paths['/v1/vaults']?.post?.requestBody?.content['application/json'].schema.properties.name;
    expect(vaultName).toMatchObject({ maxLength: 63, pattern: expect.any(String) });
    const rotate = doc.paths['/v1/vaults/{vault_id}/cmek-rotate']?.post?.parameters ?? [];
    expect(
      rotate
        .filter((p) => p.in === 'header')
        .map((p) => p.name)
        .sort(),
    ).toEqual(['x-cmek-new-key', 'x-cmek-old-key']);
  });

  it('answers a name that breaks its pattern with the rule in words', async () => {
    expectError(
      await api.request({ method: 'POST', url: '/v1/users', payload: { name: 'Not Valid', role: 'member' } }),
      400,
      'invalid_request',
      'name: lowercase letters, digits, . _ @ - (1-128), starting and ending alphanumeric',
    );
    expectError(
      await api.request({
        method: 'POST',
        url: '/v1/vaults',
        payload: { name: 'ok', description: 'a\u0000b' },
      }),
      400,
      'invalid_request',
      'text may not contain NUL characters',
    );
  });

  it('documents the cursor range the server takes, and pages secrets by path', async () => {
    const v = await createVault(api);
    const after = doc.paths['/v1/audit']?.get?.parameters?.find((p) => p.name === 'after');
    const documented = new RegExp(after?.schema.pattern ?? '$^');
    for (const [cursor, status] of [
      ['9223372036854775807', 200],
      ['0000000000000000001', 200],
      ['9223372036854775808', 400],
      ['9999999999999999999', 400],
    ] as const) {
      const res = await api.request({ method: 'GET', url: `/v1/audit?after=${cursor}` });
      expect({ cursor, status: res.statusCode, documented: documented.test(cursor) }).toEqual({
        cursor,
        status,
        documented: status === 200,
      });
    }
    for (const p of ['a/1', 'a/2', 'a/3']) await writeSecret(api, v.id, p, 'x');
    const page = await api.request({ method: 'GET', url: `/v1/vaults/${v.id}/secrets?limit=2` });
    expect((page.json() as { next_cursor: string }).next_cursor).toBe('a/2');
    const rest = await api.request({ method: 'GET', url: `/v1/vaults/${v.id}/secrets?cursor=a/2` });
    expect((rest.json() as { secrets: Array<{ path: string }> }).secrets.map((s) => s.path)).toEqual(['a/3']);
    const huge = await api.request({ method: 'GET', url: `${secretUrl(v.id, 'a/1')}?version=4294967296` });
    expectError(huge, 400, 'invalid_request', /version/);
  });
});
