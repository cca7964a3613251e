import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase, type TestDatabase } from '../../../../test/support/db.js';
import { withTransaction } from '../../db/pool.js';
import { appendAudit, listAudit, verifyChain } from './audit-service.js';

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
    await db.pool.query(`UPDATE audit_events SET decision = 'allow', actor = 'user:forged' WHERE seq = $1`, [
      victim?.seq,
    ]);
    const verdict = await verifyChain(db.pool, orgId);
    expect(verdict).toMatchObject({ ok: false, brokenAt: victim?.seq, reason: 'record content altered' });
    await db.pool.query(`UPDATE audit_events SET actor = $2, decision = $3 WHERE seq = $1`, [
      victim?.seq,
      victim?.actor,
      victim?.decision,
    ]);
    expect((await verifyChain(db.pool, orgId)).ok).toBe(true);
  });

  it('detects a deleted record', async () => {
    const all = await listAudit(db.pool, { orgId, limit: 100 });
    await db.pool.query('DELETE FROM audit_events WHERE seq = $1', [all[30]?.seq]);
    expect(await verifyChain(db.pool, orgId)).toMatchObject({
      ok: false,
      brokenAt: all[31]?.seq,
      reason: 'link to previous record broken',
    });
  });
});
