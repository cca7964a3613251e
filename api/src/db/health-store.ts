// The database's own health, for readiness: no table, just a round trip.
import { type Queryable, query } from './pool.js';

/** Resolves once the database answered a trivial query; rejects (mapped) when it cannot. */
export async function pingDatabase(db: Queryable): Promise<void> {
  await query(db, 'SELECT 1');
}
