// The read path's one statement. Reads of concurrent requests go to PostgreSQL together: for
// each, the vault, the secret, the version and the KEK it is under; and for each read that
// needs nothing more than that (the common case, see `PLAIN_READ`), its audit record, inserted
// by the same statement and so committed with it before any value leaves the server.
import type { Custody } from '../../../../contract/src/vaults.js';
import { prepared, type Queryable, queryRows } from '../../db/pool.js';
import type { VersionRow } from './secret-store.js';

export interface ReadRequest {
  orgId: string;
  vaultId: string;
  path: string;
  /** Undefined: the current version. */
  version: number | undefined;
  /** What the read's audit record names. */
  actor: string;
  requestId: string | null;
  at: Date;
}

/** What one read found. */
export interface ReadRow {
  /** Null when the vault is not in the org (or deleted). */
  custody: Custody | null;
  current_kek_version: number | null;
  /** Null when the path has no secret row. */
  found_secret_id: string | null;
  secret_deleted_at: Date | null;
  /** The wrapped KEK the version's DEK is under (null in kms custody). */
  wrapped_kek: Buffer | null;
  /** Null when the secret has no such version. */
  version: VersionRow | null;
  /**
   * The read's audit record is committed: the version exists and is readable, has no access
   * limit, and the vault is not in kms custody. Otherwise the service judges the read and
   * records it itself.
   */
  audited: boolean;
}

// A read is "plain" when nothing but its record stands between the row and the response:
// counted reads update the version in a transaction of their own, and kms-custody reads are
// charged against a budget first.
const PLAIN_READ = `f.secret_id IS NOT NULL AND f.secret_deleted_at IS NULL AND f.destroyed_at IS NULL
  AND (f.expires_at IS NULL OR f.expires_at > now()) AND f.max_access_count IS NULL AND f.custody <> 'kms'`;

// Named, not v.*: a prepared statement fails once a column it returns is added.
const VERSION_COLUMNS = [
  'secret_id',
  'version',
  'vault_id',
  'type',
  'ciphertext',
  'wrapped_dek',
  'kek_version',
  'metadata',
  'expires_at',
  'max_access_count',
  'access_count',
  'cmek_fingerprint',
  'created_by',
  'created_at',
  'destroyed_at',
] as const satisfies ReadonlyArray<keyof VersionRow>;
const FOUND_COLUMNS = [
  'custody',
  'current_kek_version',
  'found_secret_id',
  'secret_deleted_at',
  'wrapped_kek',
];
const columns = (table: string, names: readonly string[]) => names.map((c) => `${table}.${c}`).join(', ');

const READ_SECRETS = prepared(
  'read-secrets',
  `WITH req AS (
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[], $7::timestamptz[])
            WITH ORDINALITY AS r(org_id, vault_id, path, version, actor, request_id, at, n)
   ), f AS (
     SELECT r.n, r.org_id, r.vault_id AS req_vault_id, r.path AS req_path, r.actor, r.request_id, r.at,
            vt.custody, vt.current_kek_version, s.id AS found_secret_id, s.deleted_at AS secret_deleted_at,
            k.wrapped_kek, ${columns('v', VERSION_COLUMNS)}
       FROM req r
       LEFT JOIN vaults vt ON vt.id = r.vault_id AND vt.org_id = r.org_id AND vt.deleted_at IS NULL
       LEFT JOIN secrets s ON s.vault_id = vt.id AND s.path = r.path
       LEFT JOIN secret_versions v ON v.secret_id = s.id AND v.version = COALESCE(r.version, s.current_version)
       LEFT JOIN vault_keks k ON k.vault_id = vt.id AND k.version = v.kek_version
   ), audited AS (
     INSERT INTO audit_events (org_id, at, actor, action, vault_id, path, version, decision, request_id, details)
     SELECT f.org_id, f.at, f.actor, 'secret.read', f.req_vault_id, f.req_path, f.version, 'allow', f.request_id, '{}'
       FROM f WHERE ${PLAIN_READ}
      ORDER BY f.n
   )
   SELECT ${columns('f', FOUND_COLUMNS)}, ${columns('f', VERSION_COLUMNS)}, (${PLAIN_READ}) AS audited
     FROM f ORDER BY f.n`,
);

/** One result per request, in order. */
export async function readSecrets(db: Queryable, reqs: ReadRequest[]): Promise<ReadRow[]> {
  const rows = await queryRows<Omit<ReadRow, 'version'> & VersionRow>(db, READ_SECRETS, [
    reqs.map((r) => r.orgId),
    reqs.map((r) => r.vaultId),
    reqs.map((r) => r.path),
    reqs.map((r) => r.version ?? null),
    reqs.map((r) => r.actor),
    reqs.map((r) => r.requestId),
    reqs.map((r) => r.at),
  ]);
  return rows.map(
    ({ custody, current_kek_version, found_secret_id, secret_deleted_at, wrapped_kek, audited, ...v }) => ({
      custody,
      current_kek_version,
      found_secret_id,
      secret_deleted_at,
      wrapped_kek,
      audited,
      version: v.secret_id ? v : null,
    }),
  );
}
