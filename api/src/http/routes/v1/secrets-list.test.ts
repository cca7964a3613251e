// Listing secrets: prefix filtering, cursor pagination, and metadata only (never a value).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import { createVault, expectError, writeSecret } from '../../../../../test/support/api-helpers.js';

interface Listed {
  path: string;
  type: string;
  version: number;
  metadata: Record<string, string>;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}
interface Page {
  secrets: Listed[];
  next_cursor: string | null;
}

describe('secrets: list', () => {
  let api: TestApi;
  let vaultId: string;
  const marker = randomBytes(6).toString('hex');
  const secretValueFor = (path: string) => `listed-value-${marker}-${path}`;
  const paged = Array.from({ length: 25 }, (_, i) => `paged/s${String(i).padStart(2, '0')}`);

  beforeAll(async () => {
    api = await startTestApi();
    vaultId = (await createVault(api)).id;
    // Written in a shuffled order: the listing sorts, not the insertion order.
    const shuffled = [...paged].sort(() => Math.random() - 0.5);
    await Promise.all(
      shuffled.map((p) => writeSecret(api, vaultId, p, secretValueFor(p), { metadata: { n: p.slice(-2) } })),
    );
    await writeSecret(api, vaultId, 'paged/s03', secretValueFor('paged/s03-v2'), { type: 'note' });
    for (const p of ['team_a/x', 'teamXa/y', 'team_a2/z', 'other/one', 'pagedX/not-in-prefix']) {
      await writeSecret(api, vaultId, p, secretValueFor(p));
    }
  });
  afterAll(async () => {
    await api?.close();
  });

  const list = (query: string) =>
    api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/secrets${query}` });

  it('pages through a prefix with a cursor: every path once, sorted, then next_cursor null', async () => {
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const res = await list(
        `?prefix=paged/&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.statusCode).toBe(200);
      for (const p of [...paged, 'paged/s03-v2']) expect(res.body).not.toContain(secretValueFor(p));
      const page = res.json() as Page;
      expect(Object.keys(page).sort()).toEqual(['next_cursor', 'secrets']);
      sizes.push(page.secrets.length);
      seen.push(...page.secrets.map((s) => s.path));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    expect(sizes).toEqual([10, 10, 5]);
    expect(cursor).toBeNull();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...paged].sort());
  });

  it('returns metadata of the current version only, and no value field', async () => {
    const res = await list('?prefix=paged/s0&limit=4');
    const page = res.json() as Page;
    expect(page.secrets.map((s) => s.path)).toEqual(['paged/s00', 'paged/s01', 'paged/s02', 'paged/s03']);
    for (const s of page.secrets) {
      expect(Object.keys(s).sort()).toEqual([
        'cmek_encrypted',
        'cmek_fingerprint',
        'created_at',
        'expires_at',
        'metadata',
        'path',
        'type',
        'updated_at',
        'version',
      ]);
    }
    expect(page.secrets[0]).toMatchObject({
      type: 'password',
      version: 1,
      metadata: { n: '00' },
      expires_at: null,
    });
    expect(page.secrets[3]).toMatchObject({ type: 'note', version: 2, metadata: {} });
    expect(page.next_cursor).not.toBeNull();
  });

  it('treats _ in a prefix literally, not as a wildcard', async () => {
    const page = (await list('?prefix=team_a/')).json() as Page;
    expect(page.secrets.map((s) => s.path)).toEqual(['team_a/x']);
    const wider = (await list('?prefix=team_a')).json() as Page;
    expect(wider.secrets.map((s) => s.path)).toEqual(['team_a/x', 'team_a2/z']);
  });

  it('lists the whole vault without a prefix, sorted, values never included', async () => {
    const res = await list('?limit=1000');
    const page = res.json() as Page;
    expect(page.next_cursor).toBeNull();
    const paths = page.secrets.map((s) => s.path);
    expect(paths).toEqual(
      [...paged, 'team_a/x', 'teamXa/y', 'team_a2/z', 'other/one', 'pagedX/not-in-prefix'].sort(),
    );
    expect(res.body).not.toContain(`listed-value-${marker}`);
    expect(res.body).not.toContain('"value"');
  });

  it('leaves out deleted secrets and brings them back when written again', async () => {
    await writeSecret(api, vaultId, 'gone/soon', 'x');
    expect(((await list('?prefix=gone/')).json() as Page).secrets).toHaveLength(1);
    await api.request({ method: 'DELETE', url: `/v1/vaults/${vaultId}/secrets/gone/soon` });
    expect((await list('?prefix=gone/')).json()).toEqual({ secrets: [], next_cursor: null });
    await writeSecret(api, vaultId, 'gone/soon', 'y');
    expect(((await list('?prefix=gone/')).json() as Page).secrets.map((s) => [s.path, s.version])).toEqual([
      ['gone/soon', 2],
    ]);
  });

  it('answers 400 to a bad cursor, limit or prefix', async () => {
    expectError(await list('?cursor=!!!'), 400, 'invalid_request', 'cursor is not valid');
    expectError(
      await list(`?cursor=${encodeURIComponent('../etc')}`),
      400,
      'invalid_request',
      'cursor is not valid',
    );
    expectError(await list('?limit=0'), 400, 'invalid_request', /limit/);
    expectError(await list('?limit=1001'), 400, 'invalid_request', /limit/);
    expectError(await list('?limit=ten'), 400, 'invalid_request', /limit/);
    expectError(await list('?prefix=a%25'), 400, 'invalid_request', 'prefix may use only A-Z a-z 0-9 _ - /');
    expectError(await list('?prefix=a%20b'), 400, 'invalid_request', 'prefix may use only A-Z a-z 0-9 _ - /');
    expectError(await list('?sort=desc'), 400, 'invalid_request', /additional properties/);
  });
});
