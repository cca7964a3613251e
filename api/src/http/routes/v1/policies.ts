import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  Policy,
  PolicyCreateInput,
  PolicyList,
  PolicyParams,
  PolicyVaultParams,
} from '../../../../../contract/src/policies.js';
import { policyBodyDoc } from '../../../../../contract/src/policies-doc.js';
import type { PolicyService } from '../../../services/policies/policy-service.js';
import { authorize } from '../../auth.js';
import { acceptJsonOnly } from '../../errors.js';
import { routeSchema } from '../../route-schema.js';

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
      schema: routeSchema('policies', 'Grant a principal permissions on the paths matching a pattern', {
        description:
          'Patterns: `*` matches one path segment (or part of one, as in `db-*`), `**` any depth. ' +
          'Deny by default: a request is allowed when one unexpired grant names its permission, ' +
          'matches its path and meets its conditions.',
        params: PolicyVaultParams,
        body: PolicyCreateInput,
        response: { 201: Policy },
      }),
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
      schema: routeSchema('policies', "List a vault's grants", {
        params: PolicyVaultParams,
        response: { 200: PolicyList },
      }),
    },
    async (req) => ({
      policies: await policies.list(await admin(req, req.params.vault_id), req.params.vault_id),
    }),
  );

  app.delete(
    '/v1/vaults/:vault_id/policies/:policy_id',
    {
      schema: routeSchema('policies', 'Revoke a grant (effective at once, also for tokens already issued)', {
        params: PolicyParams,
        response: { 204: Type.Null() },
      }),
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
