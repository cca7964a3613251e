// Authentication and the deny-by-default authorization of /v1: token exchange, bearer checks
// (absent, garbage, expired, forged), members without grants, and users disabled mid-session.
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  createUser,
  createVault,
  exchange,
  expectError,
  orgId,
  putSecret,
  secretUrl,
  tokenFor,
  writeSecret,
} from '../../../../../test/support/api-helpers.js';
import { createLocalSigner, generateLocalSigningKeyPem } from '../../../kms/backends/local-signer.js';
import type { KmsSigner } from '../../../kms/types.js';
import { generateApiKey } from '../../../services/auth/api-keys.js';
import { AUDIENCE, createTokenService, ISSUER } from '../../../services/auth/tokens.js';
import { bootstrapAdminId } from './test-helpers.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A JWT with any header and claims, signed by `signer` (or unsigned when `signer` is null). */
async function mint(
  signer: KmsSigner | null,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const h = { alg: signer?.alg ?? 'none', kid: signer?.kid, typ: 'JWT', ...header };
  const input = `${b64(h)}.${b64(claims)}`;
  const sig = signer ? (await signer.sign(Buffer.from(input))).toString('base64url') : '';
  return `${input}.${sig}`;
}

describe('auth', () => {
  let api: TestApi;
  let keyDir: string;
  let serverSigner: KmsSigner;
  let adminId: string;
  let adminKeyId: string;
  let org: string;
  let vaultId: string;

  beforeAll(async () => {
    // The suite knows the server's signing key, so it can forge tokens the server must refuse
    // for reasons other than the signature (expiry, audience, issuer).
    keyDir = mkdtempSync(join(tmpdir(), 'oneclaw-auth-test-'));
    const pem = generateLocalSigningKeyPem();
    writeFileSync(join(keyDir, 'jwt.pem'), pem, { mode: 0o600 });
    serverSigner = createLocalSigner(pem);
    api = await startTestApi({ ONECLAW_SIGNING_KEY_FILE: join(keyDir, 'jwt.pem') });
    org = await orgId(api);
    adminId = await bootstrapAdminId(api);
    const keys = await api.db.pool.query<{ id: string }>('SELECT id FROM api_keys WHERE principal_id = $1', [
      adminId,
    ]);
    adminKeyId = (keys.rows[0] as { id: string }).id;
    vaultId = (await createVault(api)).id;
    await writeSecret(api, vaultId, 'app/db/password', 'admin-wrote-this');
  });
  afterAll(async () => {
    await api?.close();
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  const listVaults = (token: string | null) => api.request({ method: 'GET', url: '/v1/vaults', token });
  const baseClaims = () => {
    const now = Math.floor(Date.now() / 1000);
    return {
      sub: `user:${adminId}`,
      org,
      role: 'admin',
      akid: adminKeyId,
      iss: ISSUER,
      aud: AUDIENCE,
      iat: now,
      nbf: now,
      exp: now + 300,
      jti: randomUUID(),
    };
  };

  describe('token exchange', () => {
    it('exchanges the bootstrap admin key for a bearer token that works on /v1', async () => {
      const res = await exchange(api, api.adminKey);
      expect(res.statusCode).toBe(200);
      const body = res.json() as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
      expect(body.token_type).toBe('Bearer');
      expect(body.expires_in).toBe(900);
      expect(String(body.access_token).split('.')).toHaveLength(3);
      const list = await listVaults(String(body.access_token));
      expect(list.statusCode).toBe(200);
      const audit = await api.db.pool.query(
        `SELECT 1 FROM audit_events WHERE action = 'auth.token' AND actor = $1 AND request_id = $2`,
        [`user:${adminId}`, res.headers['x-request-id']],
      );
      expect(audit.rowCount).toBe(1);
    });

    it.each([
      ['garbage', 'not-a-key'],
      ['a well-formed key that was never issued', generateApiKey('user')],
      ['an agent key on the user endpoint', generateApiKey('agent')],
    ])('refuses %s with 401', async (_what, key) => {
      expectError(await exchange(api, key), 401, 'invalid_credentials', 'invalid API key');
    });

    it('refuses the admin key with its secret part changed (right lookup id, wrong secret)', async () => {
      const last = api.adminKey.at(-1) === 'A' ? 'B' : 'A';
      const forged = `${api.adminKey.slice(0, -1)}${last}`;
      expectError(await exchange(api, forged), 401, 'invalid_credentials', 'invalid API key');
    });

    it('rejects a malformed exchange body with 400', async () => {
      const post = (payload: unknown) =>
        api.request({ method: 'POST', url: '/v1/auth/token', payload: payload as object, token: null });
      expectError(await post({}), 400, 'invalid_request', /api_key/);
      expectError(await post({ api_key: '' }), 400, 'invalid_request', /api_key/);
      expectError(
        await post({ api_key: api.adminKey, extra: 1 }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
    });

    it('refuses a revoked key', async () => {
      const { userId, apiKey } = await createUser(api, 'admin');
      expect((await exchange(api, apiKey)).statusCode).toBe(200);
      await api.db.pool.query('UPDATE api_keys SET revoked_at = now() WHERE principal_id = $1', [userId]);
      expectError(await exchange(api, apiKey), 401, 'invalid_credentials', 'invalid API key');
    });
  });

  describe('bearer tokens', () => {
    const missing = 'send Authorization: Bearer <token> (get one at POST /v1/auth/token)';

    it('answers 401 without an Authorization header on every /v1 resource', async () => {
      for (const [method, url] of [
        ['GET', '/v1/vaults'],
        ['POST', '/v1/vaults'],
        ['GET', `/v1/vaults/${vaultId}`],
        ['GET', secretUrl(vaultId, 'app/db/password')],
        ['GET', `/v1/vaults/${vaultId}/secrets`],
        ['DELETE', secretUrl(vaultId, 'app/db/password')],
      ] as const) {
        const res = await api.request({ method, url, token: null });
        expectError(res, 401, 'unauthenticated', missing);
        expect(res.body).not.toContain('admin-wrote-this');
      }
      // Nothing was deleted by the unauthenticated DELETE.
      expect(
        (await api.request({ method: 'GET', url: secretUrl(vaultId, 'app/db/password') })).statusCode,
      ).toBe(200);
    });

    it('answers 401 to malformed Authorization headers', async () => {
      const token = await api.adminToken();
      for (const authorization of [`Basic ${token}`, `bearer${token}`, 'Bearer ', `Bearer ${token} x`]) {
        const res = await api.app.inject({ method: 'GET', url: '/v1/vaults', headers: { authorization } });
        expectError(res, 401, 'unauthenticated', missing);
      }
    });

    it('answers 401 to tokens that do not verify', async () => {
      const admin = await api.adminToken();
      const [h, p, s] = admin.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
      const otherSigner = createLocalSigner(generateLocalSigningKeyPem());
      const hmacWithPublicKey = async () => {
        // HS256 "signed" with the server's public key: the classic algorithm-confusion forgery.
        const jwk = (await api.request({ method: 'GET', url: '/.well-known/jwks.json', token: null })).body;
        const input = `${b64({ alg: 'HS256', kid: serverSigner.kid, typ: 'JWT' })}.${b64(baseClaims())}`;
        const mac = createHmac('sha256', jwk).update(input).digest('base64url');
        return `${input}.${mac}`;
      };
      const now = Math.floor(Date.now() / 1000);
      const bad: Array<[string, string, string]> = [
        ['garbage', 'abc.def.ghi', 'invalid_token'],
        ['not a JWT', 'x', 'invalid_token'],
        [
          'payload swapped, signature kept',
          `${h}.${b64({ ...claims, role: 'admin', org: randomUUID() })}.${s}`,
          'invalid_token',
        ],
        ['signature truncated', `${h}.${p}.${s.slice(0, -4)}`, 'invalid_token'],
        ['alg none', await mint(null, baseClaims()), 'invalid_token'],
        ['HS256 with the public key', await hmacWithPublicKey(), 'invalid_token'],
        [
          'signed by another key',
          await mint(otherSigner, baseClaims(), { kid: serverSigner.kid }),
          'invalid_token',
        ],
        ['expired', await mint(serverSigner, { ...baseClaims(), exp: now - 60 }), 'token_expired'],
        [
          'another audience',
          await mint(serverSigner, { ...baseClaims(), aud: 'someone-else' }),
          'wrong_audience',
        ],
        [
          'another issuer',
          await mint(serverSigner, { ...baseClaims(), iss: 'not-oneclaw' }),
          'invalid_token',
        ],
        ['no jti', await mint(serverSigner, { ...baseClaims(), jti: undefined }), 'invalid_token'],
        ['no API key id', await mint(serverSigner, { ...baseClaims(), akid: undefined }), 'invalid_token'],
        ['not yet valid', await mint(serverSigner, { ...baseClaims(), nbf: now + 600 }), 'token_expired'],
      ];
      for (const [what, token, code] of bad) {
        const res = await listVaults(token);
        expect({
          what,
          status: res.statusCode,
          code: (res.json() as { error: { code: string } }).error.code,
        }).toEqual({
          what,
          status: 401,
          code,
        });
        expectError(res, 401, code);
        expect(res.body).not.toContain(token);
      }
    });

    it('accepts a token the server key signed with valid claims (the forgeries above differ only as named)', async () => {
      expect((await listVaults(await mint(serverSigner, baseClaims()))).statusCode).toBe(200);
      const tokens = await createTokenService({ signer: serverSigner, ttlSeconds: -30 });
      const expired = await tokens.issue({ sub: `user:${adminId}`, org, role: 'admin', akid: adminKeyId });
      expectError(await listVaults(expired.token), 401, 'token_expired', 'token expired');
    });

    it('refuses a valid signature over a user that does not exist', async () => {
      const token = await mint(serverSigner, { ...baseClaims(), sub: `user:${randomUUID()}` });
      expectError(await listVaults(token), 401, 'principal_revoked', 'the token was revoked');
    });
  });

  describe('members without grants', () => {
    let member: { userId: string; apiKey: string };
    let memberToken: string;

    beforeAll(async () => {
      member = await createUser(api, 'member');
      memberToken = await tokenFor(api, member.apiKey);
    });

    it('see no vaults, are denied every vault and secret operation with 403, and nothing changes', async () => {
      const before = await api.db.pool.query('SELECT count(*)::int AS n FROM secret_versions');
      const vaultsBefore = await api.db.pool.query('SELECT count(*)::int AS n FROM vaults');
      const listed = await listVaults(memberToken);
      expect({ status: listed.statusCode, body: listed.json() }).toEqual({
        status: 200,
        body: { vaults: [] },
      });
      const admin = ['admin_required', 'only organization admins may administer the organization'];
      const attempts: Array<[string[], 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', string, object?]> = [
        [admin, 'POST', '/v1/vaults', { name: 'member-vault' }],
        [['forbidden', 'no grant allows list in this vault'], 'GET', `/v1/vaults/${vaultId}`],
        [admin, 'PATCH', `/v1/vaults/${vaultId}`, { description: 'mine now' }],
        [admin, 'DELETE', `/v1/vaults/${vaultId}?purge=true`],
        [
          ['forbidden', 'no grant allows read on app/db/password'],
          'GET',
          secretUrl(vaultId, 'app/db/password'),
        ],
        [
          ['forbidden', 'no grant allows write on app/db/password'],
          'PUT',
          secretUrl(vaultId, 'app/db/password'),
          { type: 'password', value: 'member-value' },
        ],
        [['forbidden', 'no grant allows list in this vault'], 'GET', `/v1/vaults/${vaultId}/secrets`],
        [
          ['forbidden', 'no grant allows list on app/db/password'],
          'GET',
          `/v1/vaults/${vaultId}/versions/app/db/password`,
        ],
        [
          ['forbidden', 'no grant allows delete on app/db/password'],
          'DELETE',
          secretUrl(vaultId, 'app/db/password', '?destroy=true'),
        ],
        [admin, 'GET', '/v1/agents'],
        [admin, 'POST', '/v1/users', { name: 'sneaky', role: 'admin' }],
        [admin, 'GET', `/v1/vaults/${vaultId}/policies`],
      ];
      for (const [[code, message], method, url, payload] of attempts) {
        const res = await api.request({ method, url, token: memberToken, ...(payload ? { payload } : {}) });
        expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 403 });
        expectError(res, 403, code as string, message);
        expect(res.body).not.toContain('admin-wrote-this');
      }
      const after = await api.db.pool.query('SELECT count(*)::int AS n FROM secret_versions');
      const vaultsAfter = await api.db.pool.query('SELECT count(*)::int AS n FROM vaults');
      expect(after.rows).toEqual(before.rows);
      expect(vaultsAfter.rows).toEqual(vaultsBefore.rows);
      const v = await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}` });
      expect(v.statusCode).toBe(200);
      expect(v.json()).toMatchObject({ description: '' });
      // Each denial is in the audit log with its reason, under the member's name.
      const denials = await api.db.pool.query(
        `SELECT reason FROM audit_events WHERE actor = $1 AND decision = 'deny'`,
        [`user:${member.userId}`],
      );
      expect(denials.rows).toHaveLength(attempts.length);
    });

    it('stop working at once when disabled: the existing token and the API key both fail with 401', async () => {
      const victim = await createUser(api, 'admin');
      const token = await tokenFor(api, victim.apiKey);
      expect((await putSecret(api, vaultId, 'app/by-victim', { value: 'x' }, token)).statusCode).toBe(200);

      const disable = (id: string) =>
        api.request({ method: 'PATCH', url: `/v1/users/${id}`, payload: { disabled: true } });
      expect((await disable(victim.userId)).statusCode).toBe(200);
      expectError(await listVaults(token), 401, 'principal_revoked', 'the token was revoked');
      expectError(
        await putSecret(api, vaultId, 'app/by-victim', { value: 'after disable' }, token),
        401,
        'principal_revoked',
        'the token was revoked',
      );
      expectError(await exchange(api, victim.apiKey), 401, 'principal_revoked', 'the user is disabled');
      const versions = await api.db.pool.query(
        `SELECT v.version FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.path = 'app/by-victim'`,
      );
      expect(versions.rows).toEqual([{ version: 1 }]);

      // The member's token is likewise dead once the member is disabled.
      expect((await disable(member.userId)).statusCode).toBe(200);
      expectError(await listVaults(memberToken), 401, 'principal_revoked', 'the token was revoked');
    });

    it('a rotated user key stops working with its tokens; the new key works', async () => {
      const user = await createUser(api, 'admin');
      const token = await tokenFor(api, user.apiKey);
      const rotated = await api.request({ method: 'POST', url: `/v1/users/${user.userId}/rotate-key` });
      expect(rotated.statusCode).toBe(200);
      const fresh = (rotated.json() as { api_key: string }).api_key;
      expect(fresh).toMatch(/^ocu_/);
      expectError(await listVaults(token), 401, 'principal_revoked');
      expectError(await exchange(api, user.apiKey), 401, 'invalid_credentials');
      expect((await listVaults(await tokenFor(api, fresh))).statusCode).toBe(200);
    });
  });

  it('never logs API keys or access tokens', async () => {
    const token = await api.adminToken();
    expect(api.logs.length).toBeGreaterThan(10);
    const logs = JSON.stringify(api.logs);
    expect(logs).not.toContain(api.adminKey);
    expect(logs).not.toContain(api.adminKey.slice(20));
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(token.split('.')[2]);
  });
});
