// The audit API on the real PostgreSQL: paging by seq, the vault filter, exactly the public
// fields (never a value), chain verification, and a tampered record found by it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';

interface AuditEvent {
  seq: string;
  at: string;
  actor: string;
  action: string;
  decision: 'allow' | 'deny';
  vault_id: string | null;
  path: string | null;
  version: number | null;
  reason: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}
interface Page {
  events: AuditEvent[];
  next_cursor: string;
}

const PUBLIC_FIELDS = [
  'action',
  'actor',
  'at',
  'decision',
  'details',
  'hash',
  'path',
  'prev_hash',
  'reason',
  'request_id',
  'seq',
  'vault_id',
  'version',
];

describe('audit API', () => {
  let api: TestApi;
  let vaultA: string;
  let vaultB: string;

  const get = async (url: string) => {
    const r = await api.request({ method: 'GET', url });
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as Page;
  };

  beforeAll(async () => {
    api = await startTestApi();
    const mk = async (name: string) => {
      const r = await api.request({ method: 'POST', url: '/v1/vaults', payload: { name } });
      expect(r.statusCode).toBe(201);
      return (r.json() as { id: string }).id;
    };
    vaultA = await mk('audit-a');
    vaultB = await mk('audit-b');
    for (let i = 0; i < 4; i++) {
      for (const v of [vaultA, vaultB]) {
        const r = await api.request({
          method: 'PUT',
          url: `/v1/vaults/${v}/secrets/app/s${i}`,
          payload: { type: 'password', value: `Very-Secret-Value-${i}`, metadata: { owner: 'team' } },
        });
        expect(r.statusCode).toBe(200);
      }
    }
    expect(
      (await api.request({ method: 'GET', url: `/v1/vaults/${vaultB}/secrets/app/s0` })).statusCode,
    ).toBe(200);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('pages through every record in seq order with exactly the public fields', async () => {
    const all = await get('/v1/audit?limit=1000');
    expect(all.events.length).toBeGreaterThanOrEqual(11);
    expect(all.next_cursor).toBe(all.events.at(-1)?.seq);
    for (const e of all.events) expect(Object.keys(e).sort()).toEqual(PUBLIC_FIELDS);
    expect(JSON.stringify(all)).not.toContain('Very-Secret-Value');
    // One chain: each record links to the one before.
    expect(all.events[0]?.prev_hash).toBe('0'.repeat(64));
    for (let i = 1; i < all.events.length; i++) {
      expect(all.events[i]?.prev_hash).toBe(all.events[i - 1]?.hash);
      expect(BigInt(all.events[i]?.seq ?? 0) > BigInt(all.events[i - 1]?.seq ?? 0)).toBe(true);
    }
    expect(all.events[0]).toMatchObject({ actor: 'system', action: 'org.bootstrap', vault_id: null });
    const write = all.events.find((e) => e.action === 'secret.write' && e.vault_id === vaultA);
    expect(write).toMatchObject({ decision: 'allow', path: 'app/s0', version: 1 });
    expect(write?.actor).toMatch(/^user:/);
    expect(write?.request_id).toEqual(expect.any(String));
    expect(write?.at).toMatch(/^\d{4}-\d\d-\d\dT/);

    const paged: string[] = [];
    let after = '0';
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(100);
      const page = await get(`/v1/audit?after=${after}&limit=3`);
      if (page.events.length === 0) {
        expect(page.next_cursor).toBe(after);
        break;
      }
      expect(page.events.length).toBeLessThanOrEqual(3);
      paged.push(...page.events.map((e) => e.seq));
      after = page.next_cursor;
    }
    // Reads made while paging (none here) would only append; what was there is all seen once.
    expect(paged.slice(0, all.events.length)).toEqual(all.events.map((e) => e.seq));
  });

  it('filters by vault', async () => {
    const b = await get(`/v1/audit?vault_id=${vaultB}`);
    expect(b.events.length).toBe(6); // create, 4 writes, 1 read
    expect(b.events.every((e) => e.vault_id === vaultB)).toBe(true);
    expect(b.events.map((e) => e.action)).toEqual([
      'vault.create',
      'secret.write',
      'secret.write',
      'secret.write',
      'secret.write',
      'secret.read',
    ]);
    const tail = await get(`/v1/audit?vault_id=${vaultB}&after=${b.events[3]?.seq}&limit=1`);
    expect(tail.events.map((e) => e.seq)).toEqual([b.events[4]?.seq]);
    expect(tail.next_cursor).toBe(b.events[4]?.seq);
  });

  it('rejects bad input and missing credentials', async () => {
    for (const q of [
      'after=abc',
      'after=-1',
      'after=9999999999999999999',
      'vault_id=nope',
      'limit=0',
      'limit=1001',
      'x=1',
    ]) {
      const r = await api.request({ method: 'GET', url: `/v1/audit?${q}` });
      expect(r.statusCode, q).toBe(400);
      expect((r.json() as { error: { code: string } }).error.code).toBe('invalid_request');
    }
    expect((await api.request({ method: 'GET', url: '/v1/audit', token: null })).statusCode).toBe(401);
    expect((await api.request({ method: 'GET', url: '/v1/audit/verify', token: null })).statusCode).toBe(401);
  });

  it('verifies the chain, and after a record is edited reports where it breaks', async () => {
    const ok = await api.request({ method: 'GET', url: '/v1/audit/verify' });
    expect(ok.statusCode).toBe(200);
    const count = (await get('/v1/audit?limit=1000')).events.length;
    expect(ok.json()).toEqual({ ok: true, checked: count });

    const victim = (await get(`/v1/audit?vault_id=${vaultA}`)).events[2];
    expect(victim?.action).toBe('secret.write');
    await api.db.pool.query(`UPDATE audit_events SET actor = 'user:forged' WHERE chain_seq = $1`, [
      victim?.seq,
    ]);
    const broken = await api.request({ method: 'GET', url: '/v1/audit/verify' });
    expect(broken.statusCode).toBe(200);
    const before = (await get(`/v1/audit?limit=1000`)).events.filter(
      (e) => BigInt(e.seq) < BigInt(victim?.seq ?? 0),
    ).length;
    expect(broken.json()).toEqual({
      ok: false,
      checked: before,
      broken_at: victim?.seq,
      reason: 'record content altered',
    });
  });
});
