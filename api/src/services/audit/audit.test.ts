import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase, type TestDatabase } from '../../../../test/support/db.js';
import { withTransaction } from '../../db/pool.js';
import { appendAudit, listAudit, sealAudit, startAuditChainer, verifyChain } from './audit-service.js';

describe('audit log', () => {
  let db: TestDatabase;
  const orgId = randomUUID();

  beforeAll(async () => {
    db = await migratedDatabase();
    await db.pool.query('INSERT INTO orgs (id, name) VALUES ($1, $2)', [orgId, 'audit-org']);
    // Concurrent appends from separate transactions still form one linear chain.
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        withTransaction(db.pool, (tx) =>
          appendAudit(tx, {
            orgId,
            actor: `user:${i % 3}`,
            action: 'secret.read',
            decision: i % 5 === 0 ? 'deny' : 'allow',
            path: `app/s${i}`,
            version: 1,
            details: { z: 1, a: 'x' },
          }),
        ),
      ),
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('chains every record and verifies', async () => {
    expect(await verifyChain(db.pool, orgId)).toEqual({ ok: true, checked: 40 });
    const page = await listAudit(db.pool, { orgId, limit: 10 });
    expect(page).toHaveLength(10);
    expect(page[1]?.prevHash).toBe(page[0]?.hash);
    const next = await listAudit(db.pool, { orgId, after: page[9]?.seq, limit: 100 });
    expect(next).toHaveLength(30);
  });

  it('a record rolled back with its change leaves no trace and no gap in the chain', async () => {
    await expect(
      withTransaction(db.pool, async (tx) => {
        await appendAudit(tx, { orgId, actor: 'user:x', action: 'secret.write', decision: 'allow' });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect((await verifyChain(db.pool, orgId)).checked).toBe(40);
  });

  it('detects an edited record', async () => {
    const victim = (await listAudit(db.pool, { orgId, limit: 20 }))[12];
    await db.pool.query(
      `UPDATE audit_events SET decision = 'allow', actor = 'user:forged' WHERE chain_seq = $1`,
      [victim?.seq],
    );
    const verdict = await verifyChain(db.pool, orgId);
    expect(verdict).toMatchObject({ ok: false, brokenAt: victim?.seq, reason: 'record content altered' });
    await db.pool.query(`UPDATE audit_events SET actor = $2, decision = $3 WHERE chain_seq = $1`, [
      victim?.seq,
      victim?.actor,
      victim?.decision,
    ]);
    expect((await verifyChain(db.pool, orgId)).ok).toBe(true);
  });

  it('detects a deleted record', async () => {
    const all = await listAudit(db.pool, { orgId, limit: 100 });
    await db.pool.query('DELETE FROM audit_events WHERE chain_seq = $1', [all[30]?.seq]);
    expect(await verifyChain(db.pool, orgId)).toMatchObject({
      ok: false,
      brokenAt: all[31]?.seq,
      reason: 'link to previous record broken',
    });
  });

  it('seals in the background, and replicas sealing at once still make one linear chain', async () => {
    const other = randomUUID();
    await db.pool.query('INSERT INTO orgs (id, name) VALUES ($1, $2)', [other, 'audit-org-2']);
    const append = (i: number) =>
      withTransaction(db.pool, (tx) =>
        appendAudit(tx, {
          orgId: other,
          actor: 'user:y',
          action: 'secret.write',
          decision: 'allow',
          version: i,
        }),
      );
    await Promise.all(Array.from({ length: 30 }, (_, i) => append(i)));
    const pending = async () =>
      (
        await db.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1 AND hash IS NULL',
          [other],
        )
      ).rows[0]?.n;
    expect(await pending()).toBe(30);
    // Three replicas' sealers race, while more records commit.
    const sealed = await Promise.all([
      sealAudit(db.pool, other, { batch: 7 }),
      sealAudit(db.pool, other, { batch: 7 }),
      append(30).then(() => sealAudit(db.pool, other, { batch: 7 })),
    ]);
    expect(sealed.reduce((a, b) => a + b, 0)).toBe(31);
    const positions = await db.pool.query<{ chain_seq: string }>(
      'SELECT chain_seq FROM audit_events WHERE org_id = $1 ORDER BY chain_seq',
      [other],
    );
    expect(positions.rows.map((r) => Number(r.chain_seq))).toEqual(
      Array.from({ length: 31 }, (_, i) => i + 1),
    );
    expect(await verifyChain(db.pool, other)).toEqual({ ok: true, checked: 31 });

    // The background chainer seals what commits later without anyone listing.
    const chainer = startAuditChainer({ pool: db.pool, logger: pino({ level: 'silent' }), intervalMs: 20 });
    try {
      await append(31);
      const start = Date.now();
      while ((await pending()) !== 0) {
        expect(Date.now() - start).toBeLessThan(5_000);
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await chainer.stop();
    }
    expect(await verifyChain(db.pool, other)).toEqual({ ok: true, checked: 32 });

    // A chainer leaves the work to a sealer already at it (another replica) instead of
    // holding a connection while it waits; a listing waits, and then sees everything.
    await append(33);
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7265))', [other]);
      const start = Date.now();
      expect(await sealAudit(db.pool, other, { ifFree: true })).toBe(0);
      expect(Date.now() - start).toBeLessThan(1_000);
      expect(await pending()).toBe(1);
      const listing = listAudit(db.pool, { orgId: other, limit: 100 });
      await new Promise((r) => setTimeout(r, 200));
      await holder.query('COMMIT');
      expect(await listing).toHaveLength(33);
    } finally {
      holder.release();
    }
  });
});
