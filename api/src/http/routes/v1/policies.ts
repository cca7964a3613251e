import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { DateTime, errorResponses, Nullable, Uuid } from '../../../../../contract/src/common.js';
import type { PolicyService } from '../../../services/policies/policy-service.js';
import { authorize } from '../../auth.js';
import { acceptJsonOnly } from '../../errors.js';
import { policyBodyDoc } from './policies-doc.js';

const L = Type.Literal;
const Day = Type.Union([L('mon'), L('tue'), L('wed'), L('thu'), L('fri'), L('sat'), L('sun')]);
const Clock = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, 24-hour' });
const Permission = Type.Union([L('read'), L('write'), L('delete'), L('list')]);
const PrincipalType = Type.Union([L('user'), L('agent'), L('k8s_service_account')]);

const Conditions = Type.Object(
  {
    ip_cidrs: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        minItems: 1,
        maxItems: 64,
        description: 'client addresses allowed (IPv4/IPv6 CIDRs or addresses)',
      }),
    ),
    time_window: Type.Optional(
      Type.Object(
        {
          days: Type.Optional(Type.Array(Day, { minItems: 1, maxItems: 7 })),
          start: Clock,
          end: Clock,
          tz: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/Berlin' }),
        },
        { additionalProperties: false, description: '[start, end) local time; end < start crosses midnight' },
      ),
    ),
  },
  { additionalProperties: false },
);

const Policy = Type.Object({
  id: Uuid,
  vault_id: Uuid,
  principal_type: PrincipalType,
  principal_id: Type.String(),
  secret_path_pattern: Type.String(),
  permissions: Type.Array(Permission),
  conditions: Conditions,
  expires_at: Nullable(DateTime),
  created_by: Type.String(),
  created_at: DateTime,
});

const VaultParams = Type.Object({ vault_id: Uuid });

/** Grants are managed by org admins. */
export const policyRoutes: FastifyPluginAsyncTypebox<{ policies: PolicyService }> = async (
  app,
  { policies },
) => {
  acceptJsonOnly(app);
  const admin = (req: Parameters<typeof authorize>[0], vaultId: string) =>
    authorize(req, vaultId, undefined, 'admin');

  app.post(
    '/v1/vaults/:vault_id/policies',
    {
      config: { swaggerTransform: policyBodyDoc },
      schema: {
        tags: ['policies'],
        summary: 'Grant a principal permissions on the paths matching a pattern',
        description:
          'Patterns: `*` matches one path segment (or part of one, as in `db-*`), `**` any depth. ' +
          'Deny by default: a request is allowed when one unexpired grant names its permission, ' +
          'matches its path and meets its conditions.',
        params: VaultParams,
        body: Type.Object(
          {
            principal_type: PrincipalType,
            principal_id: Type.String({
              minLength: 1,
              maxLength: 600,
              description: 'a user or agent id, or system:serviceaccount:<namespace>:<name>',
            }),
            secret_path_pattern: Type.String({ minLength: 1, maxLength: 512 }),
            permissions: Type.Array(Permission, { minItems: 1, maxItems: 4 }),
            conditions: Type.Optional(Conditions),
            expires_at: Type.Optional(Nullable(DateTime)),
          },
          { additionalProperties: false },
        ),
        response: { 201: Policy, ...errorResponses },
      },
    },
    async (req, reply) => {
      const p = await admin(req, req.params.vault_id);
      const created = await policies.create(p, req.params.vault_id, req.body, req.id);
      reply.status(201);
      return created;
    },
  );

  app.get(
    '/v1/vaults/:vault_id/policies',
    {
      schema: {
        tags: ['policies'],
        summary: "List a vault's grants",
        params: VaultParams,
        response: { 200: Type.Object({ policies: Type.Array(Policy) }), ...errorResponses },
      },
    },
    async (req) => ({
      policies: await policies.list(await admin(req, req.params.vault_id), req.params.vault_id),
    }),
  );

  app.delete(
    '/v1/vaults/:vault_id/policies/:policy_id',
    {
      schema: {
        tags: ['policies'],
        summary: 'Revoke a grant (effective at once, also for tokens already issued)',
        params: Type.Object({ vault_id: Uuid, policy_id: Uuid }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (req, reply) => {
      await policies.remove(
        await admin(req, req.params.vault_id),
        req.params.vault_id,
        req.params.policy_id,
        req.id,
      );
      reply.status(204);
      return null;
    },
  );
};
