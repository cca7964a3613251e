// A migrated database of its own for one suite, on the run's shared PostgreSQL.
import pg from 'pg';
import { migrate } from '../../api/src/db/migrate.js';
import { createPool } from '../../api/src/db/pool.js';
import { sharedPeer } from './fixtures.js';
import { createDatabase } from './peers/postgres.js';

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function migratedDatabase(): Promise<TestDatabase> {
  const db = await createDatabase(await sharedPeer('postgres'));
  await migrate(db.url);
  const pool = createPool(db.url, { max: 20 });
  return {
    url: db.url,
    pool,
    async drop() {
      await pool.end();
      await db.drop();
    },
  };
}

/**
 * Holds one secret version's row lock from a second connection, as a writer in the middle of a
 * transaction would, so a re-wrap job cannot finish while a test does something to it.
 */
export async function holdVersionLock(
  url: string,
  vaultId: string,
  path: string,
): Promise<{ release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query(
    `SELECT 1 FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
      WHERE s.vault_id = $1 AND s.path = $2 FOR UPDATE OF v`,
    [vaultId, path],
  );
  return {
    async release() {
      await holder.query('ROLLBACK');
      await holder.end();
    },
  };
}
