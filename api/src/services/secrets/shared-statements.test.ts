// Concurrent requests share statements (db/batcher.ts), whoever sends them. Attacked here from
// another tenant: two organizations read and write the same path names at once, each read
// answers with its own tenant's value only, a read of the other tenant's vault is a 404 even
// in the company of the owner's reads, and writes land in their own vault with their own
// version sequence.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../test/support/api.js';
import {
  createOrg,
  createVault,
  secretUrl,
  tokenFor,
  vaultName,
} from '../../../../test/support/api-helpers.js';

const PATHS = 16;
let api: TestApi;
let v1: string;
let v2: string;
let other: string; // the second organization's admin token

beforeAll(async () => {
  api = await startTestApi();
  v1 = (await createVault(api)).id;
  const org = await createOrg(api);
  other = await tokenFor(api, org.admin.apiKey);
  const created = await api.request({
    method: 'POST',
    url: '/v1/vaults',
    payload: { name: vaultName() },
    token: other,
  });
  expect(created.statusCode).toBe(201);
  v2 = (created.json() as { id: string }).id;
});
afterAll(async () => {
  await api?.close();
});

const put = (vault: string, path: string, value: string, token?: string) =>
  api.request({
    method: 'PUT',
    url: secretUrl(vault, path),
    payload: { type: 'password', value },
    ...(token === undefined ? {} : { token }),
  });
const get = (vault: string, path: string, token?: string) =>
  api.request({ method: 'GET', url: secretUrl(vault, path), ...(token === undefined ? {} : { token }) });
const answerOf = (res: LightMyRequestResponse) => ({
  status: res.statusCode,
  value: res.statusCode === 200 ? (res.json() as { value: string }).value : undefined,
});

describe('statements shared by concurrent requests of two tenants', () => {
  it('answer each read with its own tenant’s row, and the other tenant’s vault stays a 404', async () => {
    await Promise.all(
      Array.from({ length: PATHS }, async (_, i) => {
        expect((await put(v1, `app/s${i}`, `org1-canary-${i}`)).statusCode).toBe(200);
        expect((await put(v2, `app/s${i}`, `org2-canary-${i}`, other)).statusCode).toBe(200);
      }),
    );
    const reads = Array.from({ length: 240 }, (_, n) => {
      const i = n % PATHS;
      if (n % 3 === 0)
        return get(v1, `app/s${i}`).then((r) => [r, { status: 200, value: `org1-canary-${i}` }]);
      if (n % 3 === 1)
        return get(v2, `app/s${i}`, other).then((r) => [r, { status: 200, value: `org2-canary-${i}` }]);
      return get(v1, `app/s${i}`, other).then((r) => [r, { status: 404, value: undefined }]);
    });
    for (const [res, expected] of (await Promise.all(reads)) as Array<[LightMyRequestResponse, unknown]>) {
      expect(answerOf(res)).toEqual(expected);
    }
  });

  it('land writes of the same path names in their own vault, with their own versions', async () => {
    const writes = Array.from({ length: 60 }, (_, n) =>
      n % 2 === 0
        ? put(v1, 'app/shared', `org1-write-${n}`)
        : put(v2, 'app/shared', `org2-write-${n}`, other),
    );
    const versions = { 1: [] as number[], 2: [] as number[] };
    for (const [n, res] of (await Promise.all(writes)).entries()) {
      expect(res.statusCode).toBe(200);
      versions[n % 2 === 0 ? 1 : 2].push((res.json() as { version: number }).version);
    }
    const oneToThirty = Array.from({ length: 30 }, (_, i) => i + 1);
    expect(versions[1].sort((a, b) => a - b)).toEqual(oneToThirty);
    expect(versions[2].sort((a, b) => a - b)).toEqual(oneToThirty);
    expect(answerOf(await get(v1, 'app/shared'))).toMatchObject({
      value: expect.stringMatching(/^org1-write-/),
    });
    expect(answerOf(await get(v2, 'app/shared', other))).toMatchObject({
      value: expect.stringMatching(/^org2-write-/),
    });
    // A write into the other tenant's vault is refused, whatever it shares a statement with.
    const [mine, theirs] = await Promise.all([
      put(v2, 'app/x', 'ok', other),
      put(v1, 'app/x', 'intrusion', other),
    ]);
    expect(mine.statusCode).toBe(200);
    expect(theirs.statusCode).toBe(404);
    expect((await get(v1, 'app/x')).statusCode).toBe(404);
  });
});
