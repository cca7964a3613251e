import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import {
  SecretDeleteQuery,
  SecretList,
  SecretListQuery,
  SecretPathDocParams,
  SecretPathParams,
  SecretPutInput,
  SecretReadQuery,
  SecretValue,
  SecretWriteResult,
  VersionList,
} from '../../../../../contract/src/secrets.js';
import { VaultParams } from '../../../../../contract/src/vaults.js';
import { badRequest } from '../../../services/errors.js';
import { type SecretService, validatePrefix } from '../../../services/secrets/secret-service.js';
import { authorize, authorizeScope } from '../../auth.js';
import { acceptJsonOnly } from '../../errors.js';
import { routeSchema } from '../../route-schema.js';

/**
 * The router's wildcard parameter `*` is documented as `{path}`, with the rule the service
 * enforces (its own messages stay those of validatePath).
 */
const secretPathDoc: SwaggerTransform = ({ schema, url }) => ({
  url: url.replace(/\*$/, ':path'),
  schema: { ...schema, params: SecretPathDocParams },
});
const wildcardDoc = { swaggerTransform: secretPathDoc };

/**
 * max_access_count is a nullable integer, which the validator would answer with one message per
 * branch of the union (">= 1", "null", "match a schema in anyOf"); this states the rule once, in
 * words. It runs before validation, so the rule is the answer whatever else the body gets wrong.
 */
async function explainAccessLimit(req: FastifyRequest): Promise<void> {
  const body = req.body as Record<string, unknown> | null;
  if (!body || typeof body !== 'object') return;
  const max = body.max_access_count;
  if (max !== undefined && max !== null && !(Number.isInteger(max) && (max as number) >= 1)) {
    throw badRequest('body/max_access_count must be an integer >= 1, or null for no limit');
  }
}

export const secretRoutes: FastifyPluginAsyncTypebox<{
  secrets: SecretService;
  maxValueBytes: number;
}> = async (app, { secrets, maxValueBytes }) => {
  acceptJsonOnly(app);

  app.put(
    '/v1/vaults/:vault_id/secrets/*',
    {
      // Room for a maximum-size value, JSON-escaped, plus metadata.
      bodyLimit: maxValueBytes * 6 + 256 * 1024,
      config: wildcardDoc,
      preValidation: explainAccessLimit,
      schema: routeSchema('secrets', 'Write a new version of a secret', {
        params: SecretPathParams,
        body: SecretPutInput,
        response: { 200: SecretWriteResult },
      }),
    },
    async (req) => {
      const path = req.params['*'];
      const p = await authorize(req, req.params.vault_id, path, 'write');
      return secrets.put(p, req.params.vault_id, path, req.body, req.id);
    },
  );

  app.get(
    '/v1/vaults/:vault_id/secrets/*',
    {
      config: wildcardDoc,
      schema: routeSchema('secrets', 'Read a secret (latest version, or ?version=N)', {
        params: SecretPathParams,
        querystring: SecretReadQuery,
        response: { 200: SecretValue },
      }),
    },
    async (req) => {
      const path = req.params['*'];
      const p = await authorize(req, req.params.vault_id, path, 'read');
      return secrets.get(p, req.params.vault_id, path, req.query.version, req.id);
    },
  );

  app.get(
    '/v1/vaults/:vault_id/secrets',
    {
      schema: routeSchema('secrets', 'List secrets (metadata only, never values)', {
        params: VaultParams,
        querystring: SecretListQuery,
        response: { 200: SecretList },
      }),
    },
    async (req) => {
      // A malformed prefix is the caller's mistake (400) whoever asks; then the grants decide.
      validatePrefix(req.query.prefix ?? '');
      const { principal, patterns } = await authorizeScope(
        req,
        req.params.vault_id,
        ['list'],
        req.query.prefix,
      );
      return secrets.list(principal, req.params.vault_id, { ...req.query, patterns });
    },
  );

  app.get(
    '/v1/vaults/:vault_id/versions/*',
    {
      config: wildcardDoc,
      schema: routeSchema('secrets', "List a secret's versions (metadata only)", {
        params: SecretPathParams,
        response: { 200: VersionList },
      }),
    },
    async (req) => {
      const path = req.params['*'];
      const p = await authorize(req, req.params.vault_id, path, 'list');
      return { versions: await secrets.versions(p, req.params.vault_id, path) };
    },
  );

  app.delete(
    '/v1/vaults/:vault_id/secrets/*',
    {
      config: wildcardDoc,
      schema: routeSchema(
        'secrets',
        'Delete a secret (soft); with destroy=true destroy every version irrecoverably',
        { params: SecretPathParams, querystring: SecretDeleteQuery, response: { 204: Type.Null() } },
      ),
    },
    async (req, reply) => {
      const path = req.params['*'];
      const p = await authorize(req, req.params.vault_id, path, 'delete');
      await secrets.remove(p, req.params.vault_id, path, { destroy: req.query.destroy === true }, req.id);
      reply.status(204);
      return null;
    },
  );
};
