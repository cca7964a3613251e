// PostgreSQL 15 from Debian, one throw-away cluster per call: initdb into a temporary
// directory, `postgres` on a free loopback port, removed on stop.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../ports.js';
import { type ManagedProcess, spawnManaged, waitFor } from '../proc.js';
import { tools } from '../tools.js';
import { chownTree, makeWorkDir, type Peer, unprivilegedUser } from './common.js';

export interface PostgresInfo {
  host: string;
  port: number;
  user: string;
  /** Connection URL of the `postgres` database; tests create their own databases. */
  url: string;
}

export interface PostgresPeer extends Peer<PostgresInfo> {
  /** Stops and starts the server on the same data and port (for fault tests). */
  restart(): Promise<void>;
  /** Stops the server, keeping its data, until `start()`. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
}

export interface PostgresOptions {
  /** Durable writes, for benchmarks that measure them. Off for tests (much faster). */
  fsync?: boolean;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresPeer> {
  const work = makeWorkDir('pg');
  const owner = unprivilegedUser();
  chownTree(work.dir, owner);
  const dataDir = join(work.dir, 'data');
  const port = await freePort();
  const user = 'postgres';
  execFileSync(
    tools.postgresBin('initdb'),
    ['-D', dataDir, '-U', user, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { stdio: 'pipe', ...(owner ?? {}) },
  );
  const durability = opts.fsync
    ? []
    : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-k',
    work.dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=200',
    ...durability,
  ];
  const info: PostgresInfo = {
    host: '127.0.0.1',
    port,
    user,
    url: `postgres://${user}@127.0.0.1:${port}/postgres`,
  };

  let proc: ManagedProcess | undefined;
  const start = async () => {
    proc = spawnManaged({
      name: 'postgres',
      command: tools.postgresBin('postgres'),
      args,
      logFile: join(work.dir, 'postgres.log'),
      ...(owner ?? {}),
    });
    await waitFor(
      `PostgreSQL on port ${port}`,
      async () => {
        const client = new pg.Client({ connectionString: info.url, connectionTimeoutMillis: 1_000 });
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } finally {
          await client.end().catch(() => {});
        }
      },
      { process: proc, timeoutMs: 30_000 },
    );
  };
  // SIGINT is PostgreSQL's "fast" shutdown: abort sessions, checkpoint, exit.
  const kill = async (signal: NodeJS.Signals = 'SIGINT') => {
    await proc?.stop(signal);
  };
  await start();
  return {
    info,
    start,
    kill,
    async restart() {
      await kill();
      await start();
    },
    async stop() {
      await kill();
      work.remove();
    },
  };
}

/** Creates a database of its own for one test suite on a shared server. */
export async function createDatabase(
  info: PostgresInfo,
  prefix = 't',
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: info.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://${info.user}@${info.host}:${info.port}/${name}`,
    async drop() {
      const c = new pg.Client({ connectionString: info.url });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
