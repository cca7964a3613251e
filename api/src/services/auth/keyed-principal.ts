// What users and agents share as principals that hold an API key: creating one issues its key
// (shown once), rotating replaces every key, and each change is audited under the principal's
// kind (`user.create`, `agent.rotate_key`, ...). Each service keeps its own rows and rules.
import type pg from 'pg';
import { type Queryable, UniqueViolationError } from '../../db/pool.js';
import { appendAudit } from '../audit/audit-service.js';
import { conflict } from '../errors.js';
import type { KeyKind } from './api-keys.js';
import type { Principal } from './auth-service.js';
import type { AuthInvalidation } from './invalidation.js';
import { issueApiKey, replaceApiKeys } from './key-store.js';

export interface KeyedPrincipals<Row extends { id: string }> {
  kind: KeyKind;
  pool: pg.Pool;
  invalidation: AuthInvalidation;
  /** The row, locked for the rest of the transaction; throws not found. */
  lock(tx: Queryable, p: Principal, id: string): Promise<Row>;
}

/** Audits `<kind>.<action>` on principal `id` by `p`; `details` adds to the principal's id. */
export function auditKeyedChange(
  tx: Queryable,
  kind: KeyKind,
  p: Principal,
  action: string,
  id: string,
  requestId?: string,
  details: Record<string, string | number | boolean> = {},
): Promise<void> {
  return appendAudit(tx, {
    orgId: p.orgId,
    actor: p.subject,
    action: `${kind}.${action}`,
    decision: 'allow',
    requestId,
    details: { [kind]: id, ...details },
  });
}

/** The audit action of a PATCH: disabling and enabling are told apart from other edits. */
export const updateAction = (disabled: boolean | undefined): string =>
  disabled === true ? 'disable' : disabled === false ? 'enable' : 'update';

/** Inserts the principal and issues its first key; a name already taken answers 409. */
export async function createWithKey<Row extends { id: string }>(
  k: KeyedPrincipals<Row>,
  p: Principal,
  name: string,
  insert: (tx: Queryable) => Promise<Row>,
  requestId?: string,
): Promise<{ row: Row; apiKey: string }> {
  try {
    return await k.invalidation.change(k.pool, [], async (tx) => {
      const row = await insert(tx);
      const apiKey = await issueApiKey(tx, p.orgId, k.kind, row.id);
      await auditKeyedChange(tx, k.kind, p, 'create', row.id, requestId);
      return { row, apiKey };
    });
  } catch (err) {
    if (err instanceof UniqueViolationError) {
      throw conflict(`${k.kind === 'agent' ? 'an agent' : 'a user'} named ${name} already exists`);
    }
    throw err;
  }
}

/** Revokes every key of the principal and issues a new one; its live tokens stop at once. */
export function rotateKey<Row extends { id: string }>(
  k: KeyedPrincipals<Row>,
  p: Principal,
  id: string,
  requestId?: string,
): Promise<{ row: Row; apiKey: string }> {
  return k.invalidation.change(k.pool, [{ principal: id }], async (tx) => {
    const row = await k.lock(tx, p, id);
    const apiKey = await replaceApiKeys(tx, p.orgId, k.kind, id);
    await auditKeyedChange(tx, k.kind, p, 'rotate_key', id, requestId);
    return { row, apiKey };
  });
}
