// A migrated database of its own for one suite, on the run's shared PostgreSQL.
import type pg from 'pg';
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
