// Customer-managed keys of a vault (docs/cmek.md). Keys travel only in the rotation request's
// headers, which the logger redacts; everything else names keys by fingerprint.
import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  CmekDisableInput,
  CmekEnableInput,
  CmekRotateDocHeaders,
  CmekRotateHeaders,
  CmekRotateInput,
  CmekRotation,
  CmekRotationList,
  CmekRotationParams,
} from '../../../../../contract/src/cmek.js';
import { Vault, VaultParams } from '../../../../../contract/src/vaults.js';
import { type CmekService, parseKeyHeader } from '../../../services/cmek/cmek-service.js';
import type { VaultService } from '../../../services/vaults/vault-service.js';
import { authorize } from '../../auth.js';
import { acceptJsonOnly } from '../../errors.js';
import { routeSchema } from '../../route-schema.js';

/**
 * Both key headers are required; the handler checks them itself (code invalid_cmek_key, and the
 * keys are zeroed after use), so only the document states them as required.
 */
const keyHeadersDoc: SwaggerTransform = ({ schema, url }) => ({
  url,
  schema: { ...schema, headers: CmekRotateDocHeaders },
});

export const cmekRoutes: FastifyPluginAsyncTypebox<{ cmek: CmekService; vaults: VaultService }> = async (
  app,
  { cmek, vaults },
) => {
  acceptJsonOnly(app);

  app.post(
    '/v1/vaults/:vault_id/cmek',
    {
      schema: routeSchema(
        'cmek',
        'Enable a customer-managed key (by fingerprint), or switch to another one by naming the active one in previous_fingerprint',
        { params: VaultParams, body: CmekEnableInput, response: { 200: Vault } },
      ),
    },
    async (req) => {
      const p = await authorize(req, req.params.vault_id, undefined, 'admin');
      await cmek.enable(p, req.params.vault_id, req.body, req.id);
      return vaults.get(p, req.params.vault_id);
    },
  );

  app.delete(
    '/v1/vaults/:vault_id/cmek',
    {
      schema: routeSchema(
        'cmek',
        'Disable the customer-managed key: new writes are protected by the KMS only; older versions stay CMEK-encrypted',
        { params: VaultParams, body: CmekDisableInput, response: { 200: Vault } },
      ),
    },
    async (req) => {
      const p = await authorize(req, req.params.vault_id, undefined, 'admin');
      await cmek.disable(p, req.params.vault_id, req.body.fingerprint, req.id);
      return vaults.get(p, req.params.vault_id);
    },
  );

  app.post(
    '/v1/vaults/:vault_id/cmek-rotate',
    {
      config: { swaggerTransform: keyHeadersDoc },
      schema: routeSchema(
        'cmek',
        'Re-encrypt every version under the old customer key with the new one (keys in x-cmek-old-key / x-cmek-new-key, base64); resumes an unfinished rotation',
        {
          params: VaultParams,
          headers: CmekRotateHeaders,
          body: CmekRotateInput,
          response: { 202: CmekRotation },
        },
      ),
    },
    async (req, reply) => {
      const p = await authorize(req, req.params.vault_id, undefined, 'admin');
      const oldKey = parseKeyHeader('x-cmek-old-key', req.headers['x-cmek-old-key']);
      let newKey: Buffer | undefined;
      try {
        newKey = parseKeyHeader('x-cmek-new-key', req.headers['x-cmek-new-key']);
        const job = await cmek.startRotation(
          p,
          req.params.vault_id,
          { oldKey, newKey, newFingerprint: req.body.new_fingerprint },
          req.id,
        );
        reply.status(202);
        return job;
      } finally {
        oldKey.fill(0);
        newKey?.fill(0);
      }
    },
  );

  app.get(
    '/v1/vaults/:vault_id/cmek-rotate',
    {
      schema: routeSchema('cmek', "The vault's CMEK rotations, newest first (at most 50)", {
        params: VaultParams,
        response: { 200: CmekRotationList },
      }),
    },
    async (req) => {
      const p = await authorize(req, req.params.vault_id, undefined, 'admin');
      return { rotations: await cmek.listRotations(p, req.params.vault_id) };
    },
  );

  app.get(
    '/v1/vaults/:vault_id/cmek-rotate/:job_id',
    {
      schema: routeSchema('cmek', 'Progress of a CMEK rotation', {
        params: CmekRotationParams,
        response: { 200: CmekRotation },
      }),
    },
    async (req) => {
      const p = await authorize(req, req.params.vault_id, undefined, 'admin');
      return cmek.getRotation(p, req.params.vault_id, req.params.job_id);
    },
  );
};
