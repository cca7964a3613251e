// Revocation reaches every replica at once: two API servers on one database, a change made
// through one is enforced by the other before its caches would have expired on their own.
// Also: the verified-token cache never outlives a token, and the token endpoints are rate
// limited per client address.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi, testApiForSuite } from '../../../../test/support/api.js';
import {
  createUser,
  createVault,
  exchange,
  expectError,
  secretUrl,
  tokenFor,
  writeSecret,
} from '../../../../test/support/api-helpers.js';
import { createLocalSigner, generateLocalSigningKeyPem } from '../../kms/backends/local-signer.js';
import { generateApiKey } from './api-keys.js';
import { createTokenService } from './tokens.js';

/** Polls until `check` holds; returns how long it took. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

describe('revocation across replicas', () => {
  let a: TestApi;
  let b: TestApi;
  let keyDir: string;
  let vaultId: string;

  beforeAll(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'oneclaw-replicas-'));
    writeFileSync(join(keyDir, 'jwt.pem'), generateLocalSigningKeyPem(), { mode: 0o600 });
    const shared = {
      ONECLAW_SIGNING_KEY_FILE: join(keyDir, 'jwt.pem'),
      ONECLAW_LOCAL_MASTER_KEY: randomBytes(32).toString('base64'),
      ONECLAW_BOOTSTRAP_ADMIN_KEY: generateApiKey('user'),
    };
    a = await startTestApi(shared);
    b = await startTestApi(shared, { db: a.db });
    vaultId = (await createVault(a)).id;
    await writeSecret(a, vaultId, 'app/key', 'replicated-value');
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  it('a grant deleted on one replica stops working on the other at once', async () => {
    const member = await createUser(a, 'member');
    const token = await tokenFor(a, member.apiKey);
    const created = await a.request({
      method: 'POST',
      url: `/v1/vaults/${vaultId}/policies`,
      payload: {
        principal_type: 'user',
        principal_id: member.userId,
        secret_path_pattern: 'app/*',
        permissions: ['read'],
      },
    });
    expect(created.statusCode).toBe(201);
    const read = () => b.request({ method: 'GET', url: secretUrl(vaultId, 'app/key'), token });
    // B learns of the new grant (its cache of the vault's grants was dropped by the notification).
    await within(2_000, async () => (await read()).statusCode === 200);
    expect((await read()).statusCode).toBe(200); // now cached on B

    const policyId = (created.json() as { id: string }).id;
    expect(
      (await a.request({ method: 'DELETE', url: `/v1/vaults/${vaultId}/policies/${policyId}` })).statusCode,
    ).toBe(204);
    // The cache TTL is 60 s; the notification makes it well under a second.
    const took = await within(1_000, async () => (await read()).statusCode === 403);
    expect(took).toBeLessThan(1_000);
    expectError(await read(), 403, 'forbidden');
  });

  it('a user disabled on one replica is refused by the other at once, token and key alike', async () => {
    const user = await createUser(a, 'admin');
    const token = await tokenFor(a, user.apiKey);
    const list = () => b.request({ method: 'GET', url: '/v1/vaults', token });
    expect((await list()).statusCode).toBe(200); // B has cached the user as active
    expect(
      (await a.request({ method: 'PATCH', url: `/v1/users/${user.userId}`, payload: { disabled: true } }))
        .statusCode,
    ).toBe(200);
    await within(1_000, async () => (await list()).statusCode === 401);
    expectError(await list(), 401, 'principal_revoked');
    expectError(await exchange(b, user.apiKey), 401, 'principal_revoked');
  });

  it('a rotated agent key is refused by the other replica at once', async () => {
    const created = (
      await a.request({
        method: 'POST',
        url: '/v1/agents',
        payload: { name: `r-${randomBytes(4).toString('hex')}` },
      })
    ).json() as { agent: { id: string }; api_key: string };
    const agentToken = await b.request({
      method: 'POST',
      url: '/v1/auth/agent-token',
      payload: { agent_id: created.agent.id, api_key: created.api_key },
      token: null,
    });
    const token = (agentToken.json() as { access_token: string }).access_token;
    const list = () => b.request({ method: 'GET', url: '/v1/vaults', token });
    expect((await list()).statusCode).toBe(200);
    expect(
      (await a.request({ method: 'POST', url: `/v1/agents/${created.agent.id}/rotate-key` })).statusCode,
    ).toBe(200);
    await within(1_000, async () => (await list()).statusCode === 401);
    expectError(await list(), 401, 'principal_revoked');
  });
});

describe('verified-token cache', () => {
  it('serves a verified token until it expires, and never a token that differs', async () => {
    const signer = createLocalSigner(generateLocalSigningKeyPem());
    const tokens = await createTokenService({ signer, ttlSeconds: 1, cacheMaxEntries: 10 });
    const { token } = await tokens.issue({ sub: 'user:x', org: 'o', akid: 'k' });
    expect((await tokens.verify(token)).sub).toBe('user:x');
    expect((await tokens.verify(token)).sub).toBe('user:x'); // from the cache
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const altered = `${token.slice(0, -2)}${last}${token.at(-1)}`;
    await expect(tokens.verify(altered)).rejects.toMatchObject({ status: 401, code: 'invalid_token' });
    await new Promise((r) => setTimeout(r, 2_100));
    await expect(tokens.verify(token)).rejects.toMatchObject({ status: 401, code: 'token_expired' });
  });
});

describe('token endpoint rate limit', () => {
  const api = testApiForSuite({ ONECLAW_AUTH_RATE_LIMIT: '5' });

  it('answers 429 with the error envelope past the limit, per client address', async () => {
    const attempt = (remoteAddress: string) =>
      api().app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        payload: { api_key: generateApiKey('user') },
        remoteAddress,
      });
    for (let i = 0; i < 5; i++) expect((await attempt('192.0.2.10')).statusCode).toBe(401);
    const limited = await attempt('192.0.2.10');
    expectError(limited, 429, 'rate_limited', /^too many requests; retry in \d+ s$/);
    expect(limited.headers['retry-after']).toBeDefined();
    // Another client is not affected; each token endpoint has its own budget.
    expect((await attempt('192.0.2.11')).statusCode).toBe(401);
    const agent = await api().app.inject({
      method: 'POST',
      url: '/v1/auth/agent-token',
      payload: { agent_id: '00000000-0000-4000-8000-000000000000', api_key: generateApiKey('agent') },
      remoteAddress: '192.0.2.10',
    });
    expect(agent.statusCode).toBe(401);
  });
});

describe('signing key rotation', () => {
  it('tokens signed with the previous key keep working after a rolling change of key, until they expire', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oneclaw-rotation-'));
    const shared = {
      ONECLAW_LOCAL_MASTER_KEY: randomBytes(32).toString('base64'),
      ONECLAW_BOOTSTRAP_ADMIN_KEY: generateApiKey('user'),
    };
    const keyFile = (name: string) => {
      writeFileSync(join(dir, name), generateLocalSigningKeyPem(), { mode: 0o600 });
      return join(dir, name);
    };
    const old = await startTestApi({ ...shared, ONECLAW_SIGNING_KEY_FILE: keyFile('old.pem') });
    const servers = [old];
    try {
      const oldToken = await old.adminToken();
      // The replacement replica starts with a new key while the old one still runs.
      const newKey = keyFile('new.pem');
      const next = await startTestApi({ ...shared, ONECLAW_SIGNING_KEY_FILE: newKey }, { db: old.db });
      servers.push(next);
      const newToken = await next.adminToken();
      const list = (server: TestApi, token: string) =>
        server.request({ method: 'GET', url: '/v1/vaults', token });
      expect((await list(next, oldToken)).statusCode).toBe(200);
      // The old replica learns the new key when it first sees a token signed with it.
      expect((await list(old, newToken)).statusCode).toBe(200);
      const kids = async (server: TestApi) =>
        (
          (await server.request({ method: 'GET', url: '/.well-known/jwks.json', token: null })).json() as {
            keys: Array<{ kid: string }>;
          }
        ).keys.map((k) => k.kid);
      expect((await kids(next)).length).toBe(2);
      expect((await kids(next))[0]).not.toEqual((await kids(old))[0]);

      // Once the old key has been inactive for longer than any token lives, it is not trusted.
      await next.db.pool.query(
        `UPDATE signing_keys SET last_active_at = now() - interval '2 hours' WHERE kid <> $1`,
        [(await kids(next))[0]],
      );
      const later = await startTestApi({ ...shared, ONECLAW_SIGNING_KEY_FILE: newKey }, { db: next.db });
      servers.push(later);
      expectError(await list(later, oldToken), 401, 'invalid_token');
      expect((await list(later, newToken)).statusCode).toBe(200);
      expect(await kids(later)).toHaveLength(1);
    } finally {
      // The first server owns the database: close it last.
      for (const s of servers.reverse()) await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
