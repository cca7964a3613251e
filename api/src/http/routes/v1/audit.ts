// The audit log of the caller's org, for its admins: paged by sequence number, optionally for
// one vault, and a verification of the whole hash chain. Records never hold a value.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type pg from 'pg';
import Type from 'typebox';
import { DateTime, errorResponses, Uuid } from '../../../../../contract/src/common.js';
import { type AuditRecord, listAudit, verifyChain } from '../../../services/audit/audit-service.js';
import { authorize } from '../../auth.js';
import { Cursor, parseCursor } from '../../cursor.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const AuditEventSchema = Type.Object({
  seq: Type.String({ description: 'position in the org chain; the cursor to continue after it' }),
  at: DateTime,
  actor: Type.String({ description: 'who: user:<id>, agent:<id>, system:serviceaccount:<ns>:<name>' }),
  action: Type.String(),
  decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  vault_id: Nullable(Uuid),
  path: Nullable(Type.String()),
  version: Nullable(Type.Integer()),
  reason: Nullable(Type.String()),
  request_id: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  prev_hash: Type.String({ description: 'hex SHA-256 of the previous record' }),
  hash: Type.String({ description: 'hex SHA-256 over prev_hash and this record' }),
});

function toPublic(r: AuditRecord) {
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
      schema: {
        tags: ['audit'],
        summary: "List the org's audit records (admins)",
        querystring: Type.Object(
          {
            vault_id: Type.Optional(Uuid),
            after: Type.Optional(Cursor),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'default 100' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            events: Type.Array(AuditEventSchema),
            next_cursor: Type.String({ description: 'pass as `after` for the next page' }),
          }),
          ...errorResponses,
        },
      },
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
      schema: {
        tags: ['audit'],
        summary: "Verify the org's audit hash chain from its start (admins)",
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            checked: Type.Integer({ description: 'records verified before the first break, or all' }),
            broken_at: Type.Optional(Type.String({ description: 'seq of the first record that fails' })),
            reason: Type.Optional(Type.String()),
          }),
          ...errorResponses,
        },
      },
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
