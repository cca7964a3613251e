// The audit log of the caller's org, for its admins: paged by sequence number, optionally for
// one vault, and a verification of the whole hash chain. Records never hold a value.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type pg from 'pg';
import {
  type AuditEvent,
  AuditPage,
  AuditQuery,
  AuditVerifyResult,
} from '../../../../../contract/src/audit.js';
import { type AuditRecord, listAudit, verifyChain } from '../../../services/audit/audit-service.js';
import { authorize } from '../../auth.js';
import { parseCursor } from '../../cursor.js';
import { routeSchema } from '../../route-schema.js';

function toPublic(r: AuditRecord): AuditEvent {
  return {
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    action: r.action,
    decision: r.decision,
    vault_id: r.vaultId ?? null,
    path: r.path ?? null,
    version: r.version ?? null,
    reason: r.reason ?? null,
    request_id: r.requestId ?? null,
    details: r.details,
    prev_hash: r.prevHash,
    hash: r.hash,
  };
}

export const auditRoutes: FastifyPluginAsyncTypebox<{ pool: pg.Pool }> = async (app, { pool }) => {
  app.get(
    '/v1/audit',
    {
      schema: routeSchema('audit', "List the org's audit records (admins)", {
        querystring: AuditQuery,
        response: { 200: AuditPage },
      }),
    },
    async (req) => {
      const p = await authorize(req, undefined, undefined, 'admin');
      const after = parseCursor(req.query.after, 'after');
      const records = await listAudit(pool, {
        orgId: p.orgId,
        vaultId: req.query.vault_id,
        after,
        limit: req.query.limit ?? 100,
      });
      return { events: records.map(toPublic), next_cursor: records.at(-1)?.seq ?? after };
    },
  );

  app.get(
    '/v1/audit/verify',
    {
      schema: routeSchema('audit', "Verify the org's audit hash chain from its start (admins)", {
        response: { 200: AuditVerifyResult },
      }),
    },
    async (req) => {
      const p = await authorize(req, undefined, undefined, 'admin');
      const v = await verifyChain(pool, p.orgId);
      return {
        ok: v.ok,
        checked: v.checked,
        ...(v.brokenAt !== undefined ? { broken_at: v.brokenAt } : {}),
        ...(v.reason !== undefined ? { reason: v.reason } : {}),
      };
    },
  );
};
