import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  Vault,
  VaultCreateInput,
  VaultDeleteQuery,
  VaultList,
  VaultListQuery,
  VaultOwner,
  VaultParams,
  VaultUpdateInput,
} from '../../../../../contract/src/vaults.js';
import type { PolicyService } from '../../../services/policies/policy-service.js';
import type { VaultService } from '../../../services/vaults/vault-service.js';
import { authorize, principalOf, requestEnv } from '../../auth.js';
import { acceptJsonOnly } from '../../errors.js';
import { routeSchema } from '../../route-schema.js';

export const vaultRoutes: FastifyPluginAsyncTypebox<{
  vaults: VaultService;
  policies: PolicyService;
}> = async (app, { vaults, policies }) => {
  acceptJsonOnly(app);

  app.post(
    '/v1/vaults',
    { schema: routeSchema('vaults', 'Create a vault', { body: VaultCreateInput, response: { 201: Vault } }) },
    async (req, reply) => {
      const p = await authorize(req, undefined, undefined, 'admin');
      reply.status(201);
      return vaults.create(p, req.body, req.id);
    },
  );

  app.get(
    '/v1/vaults',
    {
      schema: routeSchema(
        'vaults',
        'List vaults; with owner_uid, the one vault that Kubernetes object owns (if any)',
        { querystring: VaultListQuery, response: { 200: VaultList } },
      ),
    },
    async (req) => {
      const p = principalOf(req);
      // Admins see every vault of the org; anyone else the vaults they hold a usable grant in.
      const visible = p.role === 'admin' ? undefined : await policies.visibleVaults(p, requestEnv(req));
      return { vaults: await vaults.list(p, visible, { ownerUid: req.query.owner_uid }) };
    },
  );

  app.get(
    '/v1/vaults/:vault_id',
    { schema: routeSchema('vaults', 'Get a vault', { params: VaultParams, response: { 200: Vault } }) },
    async (req) =>
      vaults.get(await authorize(req, req.params.vault_id, undefined, 'list'), req.params.vault_id),
  );

  app.patch(
    '/v1/vaults/:vault_id',
    {
      schema: routeSchema('vaults', 'Rename or describe a vault', {
        params: VaultParams,
        body: VaultUpdateInput,
        response: { 200: Vault },
      }),
    },
    async (req) =>
      vaults.update(
        await authorize(req, req.params.vault_id, undefined, 'admin'),
        req.params.vault_id,
        req.body,
        req.id,
      ),
  );

  app.put(
    '/v1/vaults/:vault_id/owner',
    {
      schema: routeSchema(
        'vaults',
        'Record the Kubernetes object that owns a vault that has no owner (a vault made before owners were recorded); an owner never changes',
        { params: VaultParams, body: VaultOwner, response: { 200: Vault } },
      ),
    },
    async (req) =>
      vaults.recordOwner(
        await authorize(req, req.params.vault_id, undefined, 'admin'),
        req.params.vault_id,
        req.body,
        req.id,
      ),
  );

  app.delete(
    '/v1/vaults/:vault_id',
    {
      schema: routeSchema(
        'vaults',
        'Delete a vault; with purge=true destroy its keys so no secret in it can ever be decrypted',
        { params: VaultParams, querystring: VaultDeleteQuery, response: { 204: Type.Null() } },
      ),
    },
    async (req, reply) => {
      const p = await authorize(req, req.params.vault_id, undefined, 'admin');
      await vaults.remove(p, req.params.vault_id, { purge: req.query.purge === true }, req.id);
      reply.status(204);
      return null;
    },
  );
};
