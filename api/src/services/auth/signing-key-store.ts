// SQL for the registry of token signing keys (see the migration that creates `signing_keys`).
import { type Queryable, query, queryRows } from '../../db/pool.js';
import type { PublicJwk } from '../../kms/types.js';

/** Records the key, or that it is still in use. */
export async function recordSigningKey(db: Queryable, key: PublicJwk): Promise<void> {
  await query(
    db,
    `INSERT INTO signing_keys (kid, alg, public_jwk) VALUES ($1, $2, $3)
     ON CONFLICT (kid) DO UPDATE SET last_active_at = now()`,
    [key.kid, key.alg, JSON.stringify(key)],
  );
}

/** Other keys in use within the last `seconds`, most recently active first. */
export async function recentSigningKeys(
  db: Queryable,
  exceptKid: string,
  seconds: number,
): Promise<PublicJwk[]> {
  const rows = await queryRows<{ public_jwk: PublicJwk }>(
    db,
    `SELECT public_jwk FROM signing_keys
      WHERE kid <> $1 AND last_active_at > now() - make_interval(secs => $2)
      ORDER BY last_active_at DESC`,
    [exceptKid, seconds],
  );
  return rows.map((r) => r.public_jwk);
}
