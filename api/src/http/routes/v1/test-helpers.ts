// What the principal suites (users, agents, policies, auth, secrets) ask the database directly.

import type { TestApi } from '../../../../../test/support/api.js';
import { orgId } from '../../../../../test/support/api-helpers.js';

/** The id of the admin user the server bootstraps in its organization. */
export async function bootstrapAdminId(api: TestApi): Promise<string> {
  const { rows } = await api.db.pool.query<{ id: string }>(
    `SELECT id FROM users WHERE org_id = $1 AND name = 'admin'`,
    [await orgId(api)],
  );
  return (rows[0] as { id: string }).id;
}

export interface PrincipalAuditRow {
  action: string;
  actor: string;
  request_id: string;
  details: unknown;
}

/** The audit records of changes to one user or agent, oldest first. */
export async function principalAudit(
  api: TestApi,
  kind: 'user' | 'agent',
  id: string,
): Promise<PrincipalAuditRow[]> {
  const { rows } = await api.db.pool.query<PrincipalAuditRow>(
    `SELECT action, actor, request_id, details FROM audit_events
      WHERE action LIKE $1 AND details->>$2 = $3 ORDER BY seq`,
    [`${kind}.%`, kind, id],
  );
  return rows;
}
