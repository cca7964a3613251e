// The database goes away under a running server and comes back: requests fail with 503 and the
// error envelope (never a 500, never a half-written row), the server keeps running, and once
// PostgreSQL is back everything works again without a restart — reads, writes, the version
// sequence, the audit chain and the change feed. Over real HTTP on a private PostgreSQL.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/api.js';
import { type PostgresPeer, startPostgres } from '../../../test/support/peers/postgres.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';

describe('database restart under a running server', () => {
  let pg: PostgresPeer;
  let api: TestApi;
  let base: string;
  let token: string;
  let vaultId: string;

  const call = async (method: string, path: string, body?: unknown, auth = true) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(auth ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    // Durable commits: the server is killed outright, and what it acknowledged must survive.
    pg = await startPostgres({ fsync: true });
    await migrate(pg.info.url);
    const pool = createPool(pg.info.url, { max: 5 });
    api = await startTestApi({}, { listen: true, db: { url: pg.info.url, pool, drop: () => pool.end() } });
    base = api.server.url as string;
    token = await api.adminToken();
    vaultId = ((await call('POST', '/v1/vaults', { name: 'faults' })).body as { id: string }).id;
    expect(
      (await call('PUT', `/v1/vaults/${vaultId}/secrets/app/db`, { type: 'password', value: 'v1' })).status,
    ).toBe(200);
  });
  afterAll(async () => {
    await api?.close();
    await api?.db.pool.end().catch(() => {});
    await pg?.stop();
  });

  it('answers 503 while the database is down, and recovers without a restart', async () => {
    await pg.kill('SIGKILL');

    const seen = new Set<number>();
    for (const [method, path, body] of [
      ['GET', `/v1/vaults/${vaultId}/secrets/app/db`],
      ['PUT', `/v1/vaults/${vaultId}/secrets/app/db`, { type: 'password', value: 'during-outage' }],
      ['GET', `/v1/vaults/${vaultId}/secrets`],
      ['POST', '/v1/vaults', { name: 'during-outage' }],
      // A read outside any transaction, the path where a driver error once escaped unmapped.
      ['GET', `/v1/vaults/${vaultId}/cmek-rotate/${randomUUID()}`],
    ] as Array<[string, string, unknown?]>) {
      const res = await call(method, path, body);
      seen.add(res.status);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 503 });
      expect(res.body).toMatchObject({ error: { code: 'database_unavailable' } });
    }
    expect((await call('GET', '/readyz', undefined, false)).status).toBe(503);
    expect((await call('GET', '/healthz', undefined, false)).status).toBe(200);
    expect(seen.has(500)).toBe(false);

    await pg.start();
    const start = Date.now();
    let read = await call('GET', `/v1/vaults/${vaultId}/secrets/app/db`);
    while (read.status !== 200) {
      expect({ status: read.status, code: (read.body.error as { code?: string })?.code }).toEqual({
        status: 503,
        code: 'database_unavailable',
      });
      expect(Date.now() - start).toBeLessThan(20_000);
      await new Promise((r) => setTimeout(r, 200));
      read = await call('GET', `/v1/vaults/${vaultId}/secrets/app/db`);
    }
    // Nothing half-written: the write refused during the outage never became a version.
    expect(read.body).toMatchObject({ value: 'v1', version: 1 });
    const write = await call('PUT', `/v1/vaults/${vaultId}/secrets/app/db`, {
      type: 'password',
      value: 'v2',
    });
    expect(write).toMatchObject({ status: 200, body: { version: 2 } });
    expect((await call('GET', '/readyz', undefined, false)).status).toBe(200);
    const vaults = (await call('GET', '/v1/vaults')).body as { vaults: Array<{ name: string }> };
    expect(vaults.vaults.map((v) => v.name)).toEqual(['faults']);
    expect((await call('GET', '/v1/audit/verify')).body).toMatchObject({ ok: true });

    // The change feed's LISTEN connection came back: a long poll is woken by a new write.
    const after = ((await call('GET', `/v1/vaults/${vaultId}/events`)).body as { next_cursor: string })
      .next_cursor;
    const waiting = call('GET', `/v1/vaults/${vaultId}/events?after=${after}&wait=20`);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await call('PUT', `/v1/vaults/${vaultId}/secrets/app/db`, { type: 'password', value: 'v3' });
    const woke = (await waiting).body as { events: Array<{ kind: string; version: number }> };
    expect(woke.events).toEqual([expect.objectContaining({ kind: 'secret.written', version: 3 })]);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
