// Per-principal abuse limits: a member over its request rate gets 429 with retry-after while
// another member is unaffected; a member over its KMS budget gets 429 in a kms-custody vault
// (every read and write there is a KMS call) but not in a wrapped one. The change feed's
// subscription cap is tested with the feed (routes/v1/events-access.test.ts).
import { describe, expect, it } from 'vitest';
import { createLimiter } from '../../../common/src/limiter.js';
import { type TestApi, testApiForSuite } from '../../../test/support/api.js';
import {
  createPolicy,
  createUser,
  createVault,
  expectError,
  putSecret,
  secretUrl,
  tokenFor,
  writeSecret,
} from '../../../test/support/api-helpers.js';

const grantAll = (api: TestApi, vaultId: string, userId: string) =>
  createPolicy(api, vaultId, {
    principal_type: 'user',
    principal_id: userId,
    secret_path_pattern: '**',
    permissions: ['read', 'write', 'list'],
  });

const member = async (api: TestApi) => {
  const { userId, apiKey } = await createUser(api);
  return { userId, token: await tokenFor(api, apiKey) };
};

describe('token bucket', () => {
  it('allows a burst, then the sustained rate, and says how long to wait', () => {
    let now = 0;
    const limiter = createLimiter({ perSecond: 2, burst: 4, now: () => now });
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([0, 0, 0, 0]);
    expect(limiter.take('a')).toBe(1);
    expect(limiter.take('b')).toBe(0);
    now += 500; // one token back
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1);
    now += 10_000; // never more than the burst
    expect([1, 2, 3, 4, 5].map(() => limiter.take('a'))).toEqual([0, 0, 0, 0, 1]);
    expect(createLimiter({ perSecond: 0 }).take('a')).toBe(0);
  });
});

describe('per-principal request rate', () => {
  const api = testApiForSuite({ ONECLAW_RATE_LIMIT: '5', ONECLAW_AUTH_RATE_LIMIT: '0' });

  it('refuses a member over its limit with 429 and retry-after; another member is unaffected', async () => {
    const vault = await createVault(api());
    const a = await member(api());
    const b = await member(api());
    await grantAll(api(), vault.id, a.userId);
    await grantAll(api(), vault.id, b.userId);
    const list = (token: string) =>
      api().request({ method: 'GET', url: `/v1/vaults/${vault.id}/secrets`, token });

    // A burst of two seconds' worth (10) passes; 30 at once cannot.
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof list>> | undefined;
    for (let i = 0; i < 30; i++) {
      const r = await list(a.token);
      statuses.push(r.statusCode);
      if (r.statusCode === 429) refused ??= r;
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(10);
    if (!refused) throw new Error('never refused');
    expectError(refused, 429, 'rate_limited', /too many requests from this principal; retry in \d+ s/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    // Every authenticated route counts, a denied one too.
    expect((await api().request({ method: 'GET', url: '/v1/agents', token: a.token })).statusCode).toBe(429);
    // b has its own budget; the admin has another.
    expect((await list(b.token)).statusCode).toBe(200);
    expect((await api().request({ method: 'GET', url: '/v1/vaults' })).statusCode).toBe(200);
    // And a's refills.
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await list(a.token)).statusCode).toBe(200);
  });
});

describe('per-principal KMS budget', () => {
  const api = testApiForSuite({ ONECLAW_KMS_BUDGET: '2', ONECLAW_RATE_LIMIT: '0' });

  it('is spent by reads and writes in a kms-custody vault only', async () => {
    const kmsVault = await createVault(api(), { custody: 'kms' });
    const wrapped = await createVault(api());
    const a = await member(api());
    const b = await member(api());
    for (const v of [kmsVault, wrapped]) {
      await grantAll(api(), v.id, a.userId);
      await grantAll(api(), v.id, b.userId);
    }
    const secretMaxAccess = 'kms/limited';
    for (const v of [kmsVault, wrapped])
      await writeSecret(api(), v.id, secretMaxAccess, 'v', { max_access_count: 100 });

    const run = async (vaultId: string) => {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const w = await putSecret(api(), vaultId, `kms/p${i}`, { value: `v${i}` }, a.token);
        statuses.push(w.statusCode);
        const r = await api().request({
          method: 'GET',
          url: secretUrl(vaultId, secretMaxAccess),
          token: a.token,
        });
        statuses.push(r.statusCode);
        if (r.statusCode === 429) {
          expectError(r, 429, 'rate_limited', /KMS budget/);
          expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        }
      }
      return statuses;
    };

    expect(await run(wrapped.id)).toEqual(Array(24).fill(200));
    const kms = await run(kmsVault.id);
    expect(kms.slice(0, 4)).toEqual([200, 200, 200, 200]);
    expect(kms.filter((s) => s === 429).length).toBeGreaterThan(10);
    expect(kms.every((s) => s === 200 || s === 429)).toBe(true);

    // A refused write stored nothing; a refused read used no access.
    const { rows } = await api().db.pool.query<{ n: number; access: number }>(
      `SELECT (SELECT count(*)::int FROM secrets WHERE vault_id = $1 AND path LIKE 'kms/p%') AS n,
              (SELECT v.access_count FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
                WHERE s.vault_id = $1 AND s.path = $2) AS access`,
      [kmsVault.id, secretMaxAccess],
    );
    const served = kms.filter((s, i) => s === 200 && i % 2 === 0).length;
    const reads = kms.filter((s, i) => s === 200 && i % 2 === 1).length;
    expect(rows[0]).toEqual({ n: served, access: reads });

    // Another principal's budget is its own.
    const r = await api().request({
      method: 'GET',
      url: secretUrl(kmsVault.id, secretMaxAccess),
      token: b.token,
    });
    expect(r.statusCode).toBe(200);

    // An org admin (a bulk import, `kms migrate`) is not charged.
    for (let i = 0; i < 10; i++) {
      const w = await putSecret(api(), kmsVault.id, `kms/admin${i}`, { value: `a${i}` });
      expect(w.statusCode).toBe(200);
    }
  });
});
