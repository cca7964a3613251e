import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  errorResponses,
  OwnerUid,
  Patterned,
  Text,
  Uuid,
  Vault,
  VaultOwner,
} from '../../../../../contract/src/common.js';
import type { PolicyService } from '../../../services/policies/policy-service.js';
import { VAULT_NAME, type VaultService } from '../../../services/vaults/vault-service.js';
import { authorize, principalOf, requestEnv } from '../../auth.js';
import { acceptJsonOnly } from '../../errors.js';

const VaultParams = Type.Object({ vault_id: Uuid });
const VaultName = Patterned(
  VAULT_NAME,
  'name must be 1-63 lowercase letters, digits or dashes, starting and ending with a letter or digit',
  { minLength: 1, maxLength: 63 },
);

export const vaultRoutes: FastifyPluginAsyncTypebox<{
  vaults: VaultService;
  policies: PolicyService;
}> = async (app, { vaults, policies }) => {
  acceptJsonOnly(app);

  app.post(
    '/v1/vaults',
    {
      schema: {
        tags: ['vaults'],
        summary: 'Create a vault',
        body: Type.Object(
          {
            name: VaultName,
            description: Type.Optional(Text({ maxLength: 1024 })),
            kms_key: Type.Optional(Type.String({ maxLength: 1024 })),
            custody: Type.Optional(Type.Union([Type.Literal('wrapped'), Type.Literal('kms')])),
            owner: Type.Optional(VaultOwner),
          },
          { additionalProperties: false },
        ),
        response: { 201: Vault, ...errorResponses },
      },
    },
    async (req, reply) => {
      const p = await authorize(req, undefined, undefined, 'admin');
      reply.status(201);
      return vaults.create(p, req.body, req.id);
    },
  );

  app.get(
    '/v1/vaults',
    {
      schema: {
        tags: ['vaults'],
        summary: 'List vaults; with owner_uid, the one vault that Kubernetes object owns (if any)',
        querystring: Type.Object({ owner_uid: Type.Optional(OwnerUid) }, { additionalProperties: false }),
        response: { 200: Type.Object({ vaults: Type.Array(Vault) }), ...errorResponses },
      },
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
    {
      schema: {
        tags: ['vaults'],
        summary: 'Get a vault',
        params: VaultParams,
        response: { 200: Vault, ...errorResponses },
      },
    },
    async (req) =>
      vaults.get(await authorize(req, req.params.vault_id, undefined, 'list'), req.params.vault_id),
  );

  app.patch(
    '/v1/vaults/:vault_id',
    {
      schema: {
        tags: ['vaults'],
        summary: 'Rename or describe a vault',
        params: VaultParams,
        body: Type.Object(
          {
            name: Type.Optional(VaultName),
            description: Type.Optional(Text({ maxLength: 1024 })),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Vault, ...errorResponses },
      },
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
      schema: {
        tags: ['vaults'],
        summary:
          'Record the Kubernetes object that owns a vault that has no owner (a vault made before owners were recorded); an owner never changes',
        params: VaultParams,
        body: VaultOwner,
        response: { 200: Vault, ...errorResponses },
      },
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
      schema: {
        tags: ['vaults'],
        summary: 'Delete a vault; with purge=true destroy its keys so no secret in it can ever be decrypted',
        params: VaultParams,
        querystring: Type.Object({ purge: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (req, reply) => {
      const p = await authorize(req, req.params.vault_id, undefined, 'admin');
      await vaults.remove(p, req.params.vault_id, { purge: req.query.purge === true }, req.id);
      reply.status(204);
      return null;
    },
  );
};
