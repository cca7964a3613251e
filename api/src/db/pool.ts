// The PostgreSQL pool and transactions. Stores take an optional `Queryable` (a transaction
// client or the pool); services own transactions with `withTransaction`. Driver errors become
// typed errors the HTTP layer maps without ever leaking SQL or values.
import pg from 'pg';

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

export class UniqueViolationError extends Error {
  override name = 'UniqueViolationError';
  constructor(readonly constraint: string | undefined) {
    super(`unique constraint ${constraint ?? ''} violated`);
  }
}

/** PostgreSQL refused a value (SQLSTATE class 22: invalid text, out of range, …). */
export class InvalidDataError extends Error {
  override name = 'InvalidDataError';
}

export class SerializationError extends Error {
  override name = 'SerializationError';
}

// SQLSTATE classes: 08 connection exception, 57P0x operator intervention (shutdown, restart),
// 53 insufficient resources.
const UNAVAILABLE = /^(08|57P0|53)/;

export function mapDbError(err: unknown): unknown {
  const code = (err as { code?: string }).code;
  if (code === '23505') return new UniqueViolationError((err as { constraint?: string }).constraint);
  if (code === '40001' || code === '40P01') return new SerializationError('concurrent update; retry');
  if (code?.startsWith('22')) return new InvalidDataError('a value could not be stored');
  if ((code && UNAVAILABLE.test(code)) || isConnectionError(err)) {
    return new DatabaseUnavailableError('database unavailable');
  }
  return err;
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  const msg = (err as Error)?.message ?? '';
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(msg)
  );
}

export function createPool(databaseUrl: string, opts: { max?: number } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // Bound every statement so a stuck lock or query cannot hold a request forever.
    statement_timeout: 15_000,
    application_name: 'oneclaw',
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => {});
  return pool;
}

export async function withTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw mapDbError(err);
  }
  // A checked-out client whose connection dies emits 'error' besides failing its query; the
  // query's rejection is what callers see, and the dead client is discarded, not pooled.
  let broken = false;
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw mapDbError(err);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * A statement PostgreSQL parses and plans once per connection: for the statements every request
 * runs, where planning would cost about as much as executing. Only for fixed text whose plan
 * does not depend on the values (a generic plan is used after a few executions).
 */
export interface Prepared {
  name: string;
  text: string;
}

export function prepared(name: string, text: string): Prepared {
  return { name, text };
}

// The embedded database (PGlite) is one backend behind every connection, so a statement one
// connection prepared exists for the next one too, which then fails to prepare it again.
let preparing = true;

/** Whether `Prepared` statements are prepared (off for the embedded database). */
export function usePreparedStatements(on: boolean): void {
  preparing = on;
}

/** Runs a query and maps driver errors. */
export async function query<R extends pg.QueryResultRow>(
  db: Queryable,
  text: string | Prepared,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  try {
    return typeof text === 'string' || !preparing
      ? await db.query<R>(typeof text === 'string' ? text : text.text, values)
      : await db.query<R>({ name: text.name, text: text.text, values });
  } catch (err) {
    throw mapDbError(err);
  }
}

/** The rows a query returns, driver errors mapped. */
export async function queryRows<R extends pg.QueryResultRow>(
  db: Queryable,
  text: string | Prepared,
  values: unknown[] = [],
): Promise<R[]> {
  return (await query<R>(db, text, values)).rows;
}

/** The first row a query returns (undefined when none), driver errors mapped. */
export async function queryRow<R extends pg.QueryResultRow>(
  db: Queryable,
  text: string | Prepared,
  values: unknown[] = [],
): Promise<R | undefined> {
  return (await query<R>(db, text, values)).rows[0];
}
