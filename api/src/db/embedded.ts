// The embedded database for `oneclaw server` without ONECLAW_DATABASE_URL: PGlite (PostgreSQL
// compiled to WebAssembly, in this process) with its data in the data directory, served on a
// loopback port by pglite-socket so the ordinary `pg` driver talks to it. For development only:
// PGlite is a single backend, so the pool is limited to one connection (concurrent
// transactions on a shared backend would interleave), and the server refuses it in the
// production profile.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedDatabase {
  url: string;
  /** The most connections a pool may open against it. */
  maxConnections: number;
  stop(): Promise<void>;
}

export async function startEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const dir = join(dataDir, 'pgdata');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const db = await PGlite.create(dir);
  // The migration runner holds its own connection next to the pool's one.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 2 });
  await server.start();
  const conn = server.getServerConn(); // "127.0.0.1:<port>"
  return {
    url: `postgres://postgres@${conn}/postgres`,
    maxConnections: 1,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
