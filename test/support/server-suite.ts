// Server processes on one migrated database of their own, sharing their environment and admin
// key, for suites that kill a server and start another on the same data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migratedDatabase, type TestDatabase } from './db.js';
import { type OneclawServer, serverEnv, startOneclaw } from './server-process.js';

export interface ServerSuite {
  db: TestDatabase;
  adminKey: string;
  /** Starts `bin/oneclaw server` on the suite's database (each call a new process). */
  start(name: string): Promise<OneclawServer>;
  /** Kills every server started, drops the database and removes the files. */
  close(): Promise<void>;
}

export async function serverSuite(prefix: string, extra: Record<string, string> = {}): Promise<ServerSuite> {
  const db = await migratedDatabase();
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const { env, adminKey } = serverEnv(dir, db.url, extra);
  const servers: OneclawServer[] = [];
  return {
    db,
    adminKey,
    async start(name) {
      const server = await startOneclaw(name, env, dir);
      servers.push(server);
      return server;
    },
    async close() {
      for (const s of servers) await s.proc.stop('SIGKILL');
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
