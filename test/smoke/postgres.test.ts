import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedPeer } from '../support/fixtures.js';
import { createDatabase, startPostgres } from '../support/peers/postgres.js';

describe('PostgreSQL peer', () => {
  let db: { url: string; drop(): Promise<void> };
  let client: pg.Client;

  beforeAll(async () => {
    db = await createDatabase(await sharedPeer('postgres'));
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('is a real PostgreSQL 15 server that runs queries and transactions', async () => {
    const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    expect(Number(rows[0]?.v)).toBeGreaterThanOrEqual(150000);
    expect(Number(rows[0]?.v)).toBeLessThan(160000);

    await client.query('CREATE TABLE smoke (id serial PRIMARY KEY, note text NOT NULL)');
    await client.query('BEGIN');
    await client.query("INSERT INTO smoke (note) VALUES ('kept')");
    await client.query('COMMIT');
    await client.query('BEGIN');
    await client.query("INSERT INTO smoke (note) VALUES ('rolled back')");
    await client.query('ROLLBACK');
    const notes = await client.query<{ note: string }>('SELECT note FROM smoke ORDER BY id');
    expect(notes.rows.map((r) => r.note)).toEqual(['kept']);
  });

  it('serves LISTEN/NOTIFY', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    try {
      await listener.query('LISTEN smoke_channel');
      const got = new Promise<string | undefined>((resolve) =>
        listener.once('notification', (n) => resolve(n.payload)),
      );
      await client.query("SELECT pg_notify('smoke_channel', 'hello')");
      expect(await got).toBe('hello');
    } finally {
      await listener.end();
    }
  });
});

describe('a private PostgreSQL for fault tests', () => {
  it('keeps committed data across a restart on the same port', async () => {
    const server = await startPostgres();
    try {
      const c1 = new pg.Client({ connectionString: server.info.url });
      await c1.connect();
      await c1.query('CREATE TABLE t (v int)');
      await c1.query('INSERT INTO t VALUES (42)');
      await c1.end();

      await server.restart();

      const c2 = new pg.Client({ connectionString: server.info.url });
      await c2.connect();
      const { rows } = await c2.query<{ v: number }>('SELECT v FROM t');
      await c2.end();
      expect(rows).toEqual([{ v: 42 }]);
    } finally {
      await server.stop();
    }
  });
});
