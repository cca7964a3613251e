// Schema migrations with node-pg-migrate, run at start-up. The runner takes a PostgreSQL
// advisory lock, so replicas starting together apply each migration exactly once; the others
// wait, then find nothing to do.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type { Logger } from 'pino';

const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export async function migrate(databaseUrl: string, logger?: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: migrationsDir,
    direction: 'up',
    migrationsTable: 'oneclaw_migrations',
    count: Number.POSITIVE_INFINITY,
    noLock: false,
    // Replicas that lose the race wait for the winner instead of failing their start.
    advisoryLockMode: 'wait',
    singleTransaction: true,
    checkOrder: true,
    verbose: false,
    log: (msg: string) => logger?.debug({ migration: true }, msg),
  });
  const names = applied.map((m) => m.name);
  if (names.length) logger?.info({ migrations: names }, 'database schema migrated');
  return names;
}
