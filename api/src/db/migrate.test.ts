import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedPeer } from '../../../test/support/fixtures.js';
import { createDatabase } from '../../../test/support/peers/postgres.js';
import { migrate } from './migrate.js';

describe('migrations', () => {
  let db: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    db = await createDatabase(await sharedPeer('postgres'));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('apply once when several replicas start at the same time, and are idempotent', async () => {
    const results = await Promise.all([migrate(db.url), migrate(db.url), migrate(db.url)]);
    const applied = results.flat();
    expect(applied).toEqual([
      '1700000000000_initial',
      '1700000000001_identity',
      '1700000000002_signing-keys',
      '1700000000003_audit-chaining',
      '1700000000004_cmek',
      '1700000000005_cmek-rotation-order',
      '1700000000006_vault-owner',
    ]);
    expect(await migrate(db.url)).toEqual([]);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      expect(rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining([
          'agents',
          'audit_events',
          'jobs',
          'policies',
          'secret_versions',
          'secrets',
          'signing_keys',
          'vault_events',
          'vault_keks',
          'vaults',
        ]),
      );
    } finally {
      await client.end();
    }
  });
});
