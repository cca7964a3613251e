// Input the secrets API must refuse, with the right status and a message, and what it does when
// stored data was tampered with: paths, types, sizes, bodies, content types, unknown vaults,
// and a flipped ciphertext byte.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  createVault,
  expectError,
  putSecret,
  secretUrl,
  writeSecret,
} from '../../../../../test/support/api-helpers.js';

const PATH_RULE =
  'path must be segments of A-Z a-z 0-9 _ - separated by single slashes, with no leading or trailing slash';

describe('secrets: input validation and integrity', () => {
  let api: TestApi;
  let vaultId: string;

  beforeAll(async () => {
    // A real listener too: inject normalizes `..` in URLs, a raw HTTP request does not.
    api = await startTestApi({}, { listen: true });
    vaultId = (await createVault(api)).id;
  });
  afterAll(async () => {
    await api?.close();
  });

  const secretCount = async () =>
    (await api.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM secret_versions')).rows[0]?.n;

  describe('paths', () => {
    const bad: Array<[string, string, string]> = [
      ['a leading slash', '/app/key', PATH_RULE],
      ['a trailing slash', 'app/key/', PATH_RULE],
      ['an empty segment', 'app//key', PATH_RULE],
      ['a space', 'app/my%20key', PATH_RULE],
      ['a dot', 'app/key.txt', PATH_RULE],
      ['a colon', 'app:key', PATH_RULE],
      ['non-ASCII letters', 'app/k%C3%A9y', PATH_RULE],
      ['an encoded slash at the start', '%2Fapp', PATH_RULE],
      ['513 characters', `${'a'.repeat(256)}/${'b'.repeat(256)}`, 'path is longer than 512 characters'],
    ];

    it.each(bad)('refuses %s with 400 on every secret route', async (_what, path, message) => {
      const before = await secretCount();
      const urls: Array<['PUT' | 'GET' | 'DELETE', string]> = [
        ['PUT', secretUrl(vaultId, path)],
        ['GET', secretUrl(vaultId, path)],
        ['DELETE', secretUrl(vaultId, path)],
        ['GET', `/v1/vaults/${vaultId}/versions/${path}`],
      ];
      for (const [method, url] of urls) {
        const res = await api.request({
          method,
          url,
          ...(method === 'PUT' ? { payload: { type: 'password', value: 'x' } } : {}),
        });
        expectError(res, 400, 'invalid_request', message);
      }
      expect(await secretCount()).toBe(before);
    });

    it('accepts a 512-character path and every allowed character', async () => {
      const long = `${'a'.repeat(255)}/${'b'.repeat(256)}`;
      expect(long).toHaveLength(512);
      expect(await writeSecret(api, vaultId, long, 'long')).toBe(1);
      expect(await writeSecret(api, vaultId, 'Az09_-/x-Y_z/0', 'chars')).toBe(1);
      expect(
        (await api.request({ method: 'GET', url: secretUrl(vaultId, 'Az09_-/x-Y_z/0') })).json(),
      ).toMatchObject({ path: 'Az09_-/x-Y_z/0', value: 'chars' });
    });

    it('refuses dot segments sent verbatim over HTTP', async () => {
      const token = await api.adminToken();
      const { port } = new URL(api.server.url as string);
      const raw = (path: string, method: string, body?: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpRequest(
            {
              host: '127.0.0.1',
              port,
              method,
              path,
              headers: {
                authorization: `Bearer ${token}`,
                ...(body ? { 'content-type': 'application/json' } : {}),
              },
            },
            (res) => {
              let data = '';
              res.on('data', (c: Buffer) => {
                data += c.toString();
              });
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      await writeSecret(api, vaultId, 'b', 'outside');
      for (const path of ['a/../b', '..', 'a/..', './a', 'a/./b', '../../secrets/b']) {
        const url = `/v1/vaults/${vaultId}/secrets/${path}`;
        const put = await raw(url, 'PUT', JSON.stringify({ type: 'password', value: 'via-dots' }));
        expect({ path, status: put.status }).toEqual({ path, status: 400 });
        expect(JSON.parse(put.body).error).toMatchObject({ code: 'invalid_request', message: PATH_RULE });
        const get = await raw(url, 'GET');
        expect({ path, status: get.status }).toEqual({ path, status: 400 });
        expect(get.body).not.toContain('outside');
      }
      expect((await api.request({ method: 'GET', url: secretUrl(vaultId, 'b') })).json()).toMatchObject({
        value: 'outside',
        version: 1,
      });
    });
  });

  describe('bodies', () => {
    it('refuses an unknown type, a missing type or value, and unknown fields', async () => {
      const before = await secretCount();
      expectError(
        await putSecret(api, vaultId, 'body/a', { type: 'gpg_key', value: 'x' }),
        400,
        'invalid_request',
        /body\/type/,
      );
      expectError(
        await api.request({ method: 'PUT', url: secretUrl(vaultId, 'body/a'), payload: { value: 'x' } }),
        400,
        'invalid_request',
        /type/,
      );
      expectError(await putSecret(api, vaultId, 'body/a', {}), 400, 'invalid_request', /value/);
      expectError(
        await putSecret(api, vaultId, 'body/a', { value: 'x', owner: 'me' }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expect(await secretCount()).toBe(before);
    });

    it('refuses a value that is not a string rather than coercing it', async () => {
      const before = await secretCount();
      for (const value of [null, 0, 12345, false, { nested: 'x' }, ['x']]) {
        expectError(
          await putSecret(api, vaultId, 'body/typed', { value }),
          400,
          'invalid_request',
          'body/value must be string',
        );
      }
      expect(await secretCount()).toBe(before);
    });

    it('refuses a max_access_count that would be coerced to "no limit"', async () => {
      const before = await secretCount();
      for (const max of [0, false, '', '3', -2, 2.5]) {
        expectError(
          await putSecret(api, vaultId, 'body/limited', { value: 'x', max_access_count: max }),
          400,
          'invalid_request',
          'body/max_access_count must be an integer >= 1, or null for no limit',
        );
      }
      expect(await secretCount()).toBe(before);
      await writeSecret(api, vaultId, 'body/limited', 'x', { max_access_count: null });
      await writeSecret(api, vaultId, 'body/limited', 'x', { max_access_count: 1 });
      const rows = await api.db.pool.query(
        `SELECT max_access_count FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
          WHERE s.path = 'body/limited' ORDER BY v.version`,
      );
      expect(rows.rows).toEqual([{ max_access_count: null }, { max_access_count: 1 }]);
    });

    it('refuses oversized metadata', async () => {
      const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
      expectError(
        await putSecret(api, vaultId, 'body/meta', { value: 'x', metadata: many }),
        400,
        'invalid_request',
      );
      expectError(
        await putSecret(api, vaultId, 'body/meta', { value: 'x', metadata: { k: 'v'.repeat(1025) } }),
        400,
        'invalid_request',
      );
      expectError(
        await putSecret(api, vaultId, 'body/meta', { value: 'x', metadata: { ['k'.repeat(129)]: 'v' } }),
        400,
        'invalid_request',
      );
    });

    it('answers 413 to a value over 64 KiB, counting bytes, not characters', async () => {
      expect(await writeSecret(api, vaultId, 'size/max', 'x'.repeat(65_536))).toBe(1);
      expect(
        (await api.request({ method: 'GET', url: secretUrl(vaultId, 'size/max') })).json().value,
      ).toHaveLength(65_536);
      expectError(
        await putSecret(api, vaultId, 'size/over', { value: 'x'.repeat(65_537) }),
        413,
        'too_large',
        'value is larger than 65536 bytes',
      );
      // 32,769 two-byte characters: under the limit in characters, over it in bytes.
      expectError(
        await putSecret(api, vaultId, 'size/over', { value: 'é'.repeat(32_769) }),
        413,
        'too_large',
        'value is larger than 65536 bytes',
      );
      expectError(
        await putSecret(api, vaultId, 'size/over', { value: 'x'.repeat(1_000_000) }),
        413,
        'too_large',
        'request body is too large',
      );
      const rows = await api.db.pool.query(`SELECT 1 FROM secrets WHERE path = 'size/over'`);
      expect(rows.rowCount).toBe(0);
    });

    it('answers 400 invalid_request to malformed JSON without echoing it', async () => {
      for (const payload of [
        '{"type":"password","value":"malformed-s3cr3t',
        '{"value": "malformed-s3cr3t" x}',
        '',
        'null',
      ]) {
        const res = await api.request({
          method: 'PUT',
          url: secretUrl(vaultId, 'json/bad'),
          headers: { 'content-type': 'application/json' },
          payload,
        });
        expectError(res, 400, 'invalid_request', payload === 'null' ? /body/ : 'body is not valid JSON');
        expect(res.body).not.toContain('malformed-s3cr3t');
      }
      expect(JSON.stringify(api.logs)).not.toContain('malformed-s3cr3t');
    });

    it.each([
      'text/plain',
      'application/xml',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ])('answers 415 to a %s body', async (contentType) => {
      const res = await api.request({
        method: 'PUT',
        url: secretUrl(vaultId, 'ctype/x'),
        headers: { 'content-type': contentType },
        payload: JSON.stringify({ type: 'password', value: 'x' }),
      });
      expectError(res, 415, 'unsupported_media_type', 'send application/json');
      const vault = await api.request({
        method: 'POST',
        url: '/v1/vaults',
        headers: { 'content-type': contentType },
        payload: JSON.stringify({ name: 'ctype' }),
      });
      expectError(vault, 415, 'unsupported_media_type', 'send application/json');
      const token = await api.request({
        method: 'POST',
        url: '/v1/auth/token',
        headers: { 'content-type': contentType },
        payload: JSON.stringify({ api_key: api.adminKey }),
        token: null,
      });
      expectError(token, 415, 'unsupported_media_type', 'send application/json');
    });

    it('refuses a "__proto__" metadata key with a 400 and writes nothing, as the document declares', async () => {
      const before = await secretCount();
      const res = await api.request({
        method: 'PUT',
        url: secretUrl(vaultId, 'proto/key'),
        headers: { 'content-type': 'application/json' },
        payload: '{"type":"password","value":"x","metadata":{"__proto__":"y"}}',
      });
      expectError(res, 400, 'invalid_request');
      expect(await secretCount()).toBe(before);
      // A client that reads the document, schemathesis among them, knows the key is refused.
      const doc = (await api.request({ method: 'GET', url: '/openapi.json', token: null })).body;
      expect(doc.includes('"not":{"enum":["__proto__"]}'), 'the document declares the key refused').toBe(
        true,
      );
    });
  });

  describe('unknown vaults', () => {
    it('answers 404 on every secret route of a vault that does not exist', async () => {
      const ghost = '00000000-0000-4000-8000-000000000000';
      const routes: Array<['PUT' | 'GET' | 'DELETE', string]> = [
        ['PUT', secretUrl(ghost, 'a/b')],
        ['GET', secretUrl(ghost, 'a/b')],
        ['DELETE', secretUrl(ghost, 'a/b')],
        ['GET', `/v1/vaults/${ghost}/secrets`],
        ['GET', `/v1/vaults/${ghost}/versions/a/b`],
      ];
      for (const [method, url] of routes) {
        const res = await api.request({
          method,
          url,
          ...(method === 'PUT' ? { payload: { type: 'password', value: 'x' } } : {}),
        });
        expectError(res, 404, 'not_found', 'vault not found');
      }
    });
  });

  describe('integrity', () => {
    const flip = async (path: string, column: 'ciphertext' | 'wrapped_dek', version: number, at: number) => {
      const res = await api.db.pool.query(
        `UPDATE secret_versions SET ${column} = set_byte(${column}, $3, get_byte(${column}, $3) # 1)
          WHERE version = $2 AND secret_id = (SELECT id FROM secrets WHERE vault_id = $4 AND path = $1)`,
        [path, version, at, vaultId],
      );
      expect(res.rowCount).toBe(1);
    };

    it.each([
      ['a ciphertext byte', 'ciphertext', 20],
      ['the ciphertext tag', 'ciphertext', -1],
      ['a wrapped DEK byte', 'wrapped_dek', 30],
    ] as const)(
      'answers 500 integrity_error when %s was changed, and logs no value',
      async (_what, column, at) => {
        const path = `tamper/${column}${at}`;
        const value = `tamper-s3cr3t-${column}-${at}`;
        await writeSecret(api, vaultId, path, 'untouched-v1');
        await writeSecret(api, vaultId, path, value);
        const len = await api.db.pool.query(
          `SELECT length(${column}) AS n FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
          WHERE s.path = $1 AND v.version = 2`,
          [path],
        );
        await flip(path, column, 2, at < 0 ? len.rows[0].n + at : at);

        const logsBefore = api.logs.length;
        const res = await api.request({ method: 'GET', url: secretUrl(vaultId, path) });
        expectError(res, 500, 'integrity_error', 'stored data failed its integrity check');
        expect(res.body).not.toContain(value);
        const lines = api.logs.slice(logsBefore);
        const logged = lines.find((l) => l.msg === 'stored data failed its integrity check');
        expect(logged).toMatchObject({ level: 50, reqId: res.headers['x-request-id'] });
        expect(JSON.stringify(lines)).not.toContain(value);
        // The untampered version still opens.
        expect(
          (await api.request({ method: 'GET', url: secretUrl(vaultId, path, '?version=1') })).json(),
        ).toMatchObject({
          value: 'untouched-v1',
        });
      },
    );
  });
});
