// The registry of token signing keys, shared by replicas through the database. See the
// migration that creates `signing_keys` for why: rotation without invalidating live tokens.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { PublicJwk } from '../../kms/types.js';
import { recentSigningKeys, recordSigningKey } from './signing-key-store.js';

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
  const record = () => recordSigningKey(pool, current);
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
      return [current, ...(await recentSigningKeys(pool, current.kid, horizon))];
    },
    stop: () => clearInterval(heartbeat),
  };
}
