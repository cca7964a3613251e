// The registry of token signing keys, shared by replicas through the database. See the
// migration that creates `signing_keys` for why: rotation without invalidating live tokens.
import type pg from 'pg';
import type { Logger } from 'pino';
import { query } from '../../db/pool.js';
import type { PublicJwk } from '../../kms/types.js';

export interface SigningKeyRegistry {
  /** Public keys whose tokens may still be live (this replica's first). */
  trusted(): Promise<PublicJwk[]>;
  stop(): void;
}

export async function startSigningKeyRegistry(deps: {
  pool: pg.Pool;
  current: PublicJwk;
  /** Longest token lifetime: a key is trusted this long after it was last active (plus a margin). */
  tokenTtlSeconds: number;
  logger: Logger;
  heartbeatMs?: number;
}): Promise<SigningKeyRegistry> {
  const { pool, current } = deps;
  const record = () =>
    query(
      pool,
      `INSERT INTO signing_keys (kid, alg, public_jwk) VALUES ($1, $2, $3)
       ON CONFLICT (kid) DO UPDATE SET last_active_at = now()`,
      [current.kid, current.alg, JSON.stringify(current)],
    );
  await record();
  const heartbeat = setInterval(() => {
    record().catch((err: unknown) =>
      deps.logger.warn(
        { err: { message: (err as Error).message } },
        'could not refresh the signing key record',
      ),
    );
  }, deps.heartbeatMs ?? 60_000);
  heartbeat.unref();
  // Margin: a heartbeat period plus clock skew between replicas.
  const horizon = deps.tokenTtlSeconds + 300;
  return {
    async trusted() {
      const { rows } = await query<{ public_jwk: PublicJwk }>(
        pool,
        `SELECT public_jwk FROM signing_keys
          WHERE kid <> $1 AND last_active_at > now() - make_interval(secs => $2)
          ORDER BY last_active_at DESC`,
        [current.kid, horizon],
      );
      return [current, ...rows.map((r) => r.public_jwk)];
    },
    stop: () => clearInterval(heartbeat),
  };
}
