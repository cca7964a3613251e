// The service around the API: health and readiness, Prometheus metrics by route template,
// the OpenAPI document and docs UI, request ids, and the JSON 404.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { testApiForSuite } from '../../../test/support/api.js';
import { createVault, expectError, secretUrl, writeSecret } from '../../../test/support/api-helpers.js';

interface OpenApiOperation {
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation>>;
}

describe('system endpoints', () => {
  const api = testApiForSuite();

  const anon = (url: string, headers: Record<string, string> = {}) =>
    api().request({ method: 'GET', url, token: null, headers });

  it('/healthz and /readyz answer 200 without a token', async () => {
    const health = await anon('/healthz');
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    const ready = await anon('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });

  it('/metrics labels requests by route template, never by the raw path', async () => {
    const v = await createVault(api());
    const path = `metrics/distinct-${randomBytes(6).toString('hex')}`;
    await writeSecret(api(), v.id, path, 'metered');
    expect((await api().request({ method: 'GET', url: secretUrl(v.id, path) })).statusCode).toBe(200);
    const stray = `/no-such-route-${randomBytes(4).toString('hex')}`;
    expect((await anon(stray)).statusCode).toBe(404);

    const res = await anon('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
    expect(text).toContain('# TYPE oneclaw_http_request_duration_seconds histogram');
    expect(text).toMatch(
      /oneclaw_http_request_duration_seconds_count\{method="PUT",route="\/v1\/vaults\/:vault_id\/secrets\/\*",status="200"\} 1\n/,
    );
    expect(text).toMatch(
      /oneclaw_http_request_duration_seconds_count\{method="GET",route="\/v1\/vaults\/:vault_id\/secrets\/\*",status="200"\} 1\n/,
    );
    expect(text).toMatch(/oneclaw_kms_calls_total\{backend="local",operation="wrap",outcome="ok"\} [1-9]/);
    expect(text).toContain('oneclaw_db_pool_connections');
    // Neither secret paths, vault ids nor unmatched URLs become label values.
    expect(text).not.toContain(path);
    expect(text).not.toContain('distinct-');
    expect(text).not.toContain(v.id);
    expect(text).not.toContain(stray);
    expect(text).toContain('route="unmatched"');
  });

  it('/openapi.json is OpenAPI 3 and documents every /v1 route with response schemas', async () => {
    const res = await anon('/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json() as OpenApi;
    expect(doc.openapi).toMatch(/^3\./);
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) =>
      Object.entries(methods).map(([m, op]) => ({ key: `${m.toUpperCase()} ${p}`, op })),
    );
    expect(ops.map((o) => o.key)).toEqual(
      expect.arrayContaining([
        'POST /v1/auth/token',
        'POST /v1/vaults',
        'GET /v1/vaults',
        'GET /v1/vaults/{vault_id}',
        'PATCH /v1/vaults/{vault_id}',
        'DELETE /v1/vaults/{vault_id}',
        'PUT /v1/vaults/{vault_id}/secrets/{path}',
        'GET /v1/vaults/{vault_id}/secrets/{path}',
        'DELETE /v1/vaults/{vault_id}/secrets/{path}',
        'GET /v1/vaults/{vault_id}/secrets',
        'GET /v1/vaults/{vault_id}/versions/{path}',
      ]),
    );
    // Operational endpoints are not part of the API document.
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith('/v1/'))).toEqual([]);

    const v1 = ops.filter((o) => o.key.includes(' /v1/'));
    expect(v1.length).toBeGreaterThanOrEqual(11);
    for (const { key, op } of v1) {
      const statuses = Object.keys(op.responses);
      const success = statuses.filter((s) => s.startsWith('2'));
      expect({ key, success: success.length > 0 }).toEqual({ key, success: true });
      for (const s of success.filter((x) => x !== '204')) {
        expect({
          key,
          s,
          schema: op.responses[s]?.content?.['application/json']?.schema !== undefined,
        }).toEqual({
          key,
          s,
          schema: true,
        });
      }
      for (const s of ['400', '401', '403', '404', '500', '503']) {
        const schema = op.responses[s]?.content?.['application/json']?.schema as
          | { properties?: { error?: { required?: string[] } } }
          | undefined;
        expect({ key, s, required: schema?.properties?.error?.required }).toEqual({
          key,
          s,
          required: ['code', 'message', 'request_id'],
        });
      }
    }
    // What a secret read returns is spelled out field by field.
    const read = doc.paths['/v1/vaults/{vault_id}/secrets/{path}']?.get?.responses['200']?.content?.[
      'application/json'
    ]?.schema as { properties: Record<string, unknown> };
    expect(Object.keys(read.properties).sort()).toEqual([
      'cmek_encrypted',
      'cmek_fingerprint',
      'created_at',
      'expires_at',
      'metadata',
      'path',
      'type',
      'value',
      'version',
    ]);
    const list = doc.paths['/v1/vaults/{vault_id}/secrets']?.get?.responses['200']?.content?.[
      'application/json'
    ]?.schema as { properties: { secrets: { items: { properties: Record<string, unknown> } } } };
    expect(Object.keys(list.properties.secrets.items.properties)).not.toContain('value');
  });

  it('/docs serves the HTML docs UI', async () => {
    let res = await anon('/docs');
    if (res.statusCode >= 300 && res.statusCode < 400) res = await anon(String(res.headers.location));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/<html/i);
    expect(res.body).toMatch(/swagger/i);
  });

  it('publishes only public signing keys', async () => {
    const res = await anon('/.well-known/jwks.json');
    expect(res.statusCode).toBe(200);
    const { keys } = res.json() as { keys: Array<Record<string, unknown>> };
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: expect.any(String) });
      expect(k).not.toHaveProperty('d');
    }
  });

  describe('request ids', () => {
    it('every response carries x-request-id, including errors', async () => {
      const v = await createVault(api());
      const responses = await Promise.all([
        anon('/healthz'),
        anon('/readyz'),
        anon('/metrics'),
        anon('/openapi.json'),
        anon('/nope'),
        anon('/v1/vaults'),
        api().request({ method: 'GET', url: '/v1/vaults' }),
        api().request({ method: 'GET', url: secretUrl(v.id, 'missing/one') }),
        api().request({ method: 'POST', url: '/v1/vaults', payload: { name: 'Bad Name' } }),
        api().request({ method: 'POST', url: '/v1/auth/token', payload: { api_key: 'x' }, token: null }),
      ]);
      const ids = responses.map((r) => r.headers['x-request-id']);
      for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(new Set(ids).size).toBe(ids.length);
      for (const r of responses) expect(r.headers['cache-control']).toBe('no-store');
    });

    it('echoes a valid incoming x-request-id in the header, the error body and the logs', async () => {
      const id = `trace-${randomBytes(6).toString('hex')}:1.a_b`;
      const ok = await api().request({ method: 'GET', url: '/v1/vaults', headers: { 'x-request-id': id } });
      expect(ok.headers['x-request-id']).toBe(id);
      const id2 = `${id}-err`;
      const err = await api().request({
        method: 'GET',
        url: '/v1/vaults/00000000-0000-4000-8000-000000000000',
        headers: { 'x-request-id': id2 },
      });
      expectError(err, 404, 'not_found', 'vault not found');
      expect(err.headers['x-request-id']).toBe(id2);
      expect(api().logs.some((l) => l.reqId === id)).toBe(true);
    });

    it.each([
      ['too long', 'a'.repeat(129)],
      ['with spaces', 'two words'],
      ['with a newline escape', 'abc%0Adef'],
      ['with quotes', 'a"b'],
    ])('replaces an incoming x-request-id %s with a fresh one', async (_what, given) => {
      const res = await anon('/healthz', { 'x-request-id': given });
      expect(res.headers['x-request-id']).not.toBe(given);
      expect(res.headers['x-request-id']).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    });
  });

  it('answers an unknown route with a JSON 404 that names the route but not its query', async () => {
    const res = await anon('/v2/secrets/x?token=abc');
    expectError(res, 404, 'not_found', 'no route GET /v2/secrets/x');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const v1 = await api().request({ method: 'DELETE', url: '/v1/nothing-here' });
    expectError(v1, 404, 'not_found', 'no route DELETE /v1/nothing-here');
    const wrongMethod = await api().request({
      method: 'POST',
      url: '/v1/vaults/00000000-0000-4000-8000-000000000000',
    });
    // A known path with a method it does not take: 405 naming the methods it does.
    expectError(
      wrongMethod,
      405,
      'method_not_allowed',
      'POST is not allowed here; allowed: DELETE, GET, HEAD, PATCH',
    );
    expect(wrongMethod.headers.allow).toBe('DELETE, GET, HEAD, PATCH');
  });
});
