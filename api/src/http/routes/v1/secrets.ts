import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import {
  DateTime,
  errorResponses,
  Fingerprint,
  INT32_MAX,
  Metadata,
  Nullable,
  Patterned,
  Uuid,
} from '../../../../../contract/src/common.js';
import { badRequest } from '../../../services/errors.js';
import {
  MAX_PATH,
  SECRET_PATH,
  SECRET_TYPES,
  type SecretService,
  validatePrefix,
} from '../../../services/secrets/secret-service.js';
import { authorize, authorizeScope } from '../../auth.js';
import { acceptJsonOnly } from '../../errors.js';

const PathParams = Type.Object({
  vault_id: Uuid,
  '*': Type.String({ description: 'secret path, e.g. app/db/password' }),
});
const SecretType = Type.Union(SECRET_TYPES.map((t) => Type.Literal(t)));

/**
 * The router's wildcard parameter `*` is documented as `{path}`, with the rule the service
 * enforces (its own messages stay those of validatePath).
 */
const secretPathDoc: SwaggerTransform = ({ schema, url }) => ({
  url: url.replace(/\*$/, ':path'),
  schema: {
    ...schema,
    params: Type.Object({
      vault_id: Uuid,
      path: Type.String({
        pattern: SECRET_PATH.source,
        maxLength: MAX_PATH,
        description:
          'secret path: segments of A-Z a-z 0-9 _ - separated by single slashes, e.g. app/db/password',
      }),
    }),
  },
});
const wildcardDoc = { swaggerTransform: secretPathDoc };

const SecretValue = Type.Object({
  path: Type.String(),
  type: Type.String(),
  value: Type.String(),
  version: Type.Integer(),
  metadata: Metadata,
  expires_at: Nullable(DateTime),
  cmek_encrypted: Type.Boolean(),
  cmek_fingerprint: Nullable(Fingerprint),
  created_at: DateTime,
});

const SecretMeta = Type.Object({
  path: Type.String(),
  type: Type.String(),
  version: Type.Integer(),
  metadata: Metadata,
  expires_at: Nullable(DateTime),
  cmek_encrypted: Type.Boolean(),
  cmek_fingerprint: Nullable(Fingerprint),
  created_at: DateTime,
  updated_at: DateTime,
});

const VersionMeta = Type.Object({
  version: Type.Integer(),
  type: Type.String(),
  created_at: DateTime,
  created_by: Type.String(),
  expires_at: Nullable(DateTime),
  max_access_count: Nullable(Type.Integer()),
  access_count: Type.Integer(),
  destroyed: Type.Boolean(),
  cmek_encrypted: Type.Boolean(),
  cmek_fingerprint: Nullable(Fingerprint),
});

/**
 * The app's validator coerces JSON types (AJV coerceTypes), which would turn `max_access_count:
 * 0` or `false` into null (no limit at all) and `value: null` into an empty secret. Those two
 * fields are checked for their JSON type before validation coerces anything.
 */
async function refuseCoercedFields(req: FastifyRequest): Promise<void> {
  const body = req.body as Record<string, unknown> | null;
  if (!body || typeof body !== 'object') return;
  if ('value' in body && typeof body.value !== 'string') throw badRequest('body/value must be string');
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
      preValidation: refuseCoercedFields,
      schema: {
        tags: ['secrets'],
        summary: 'Write a new version of a secret',
        params: PathParams,
        body: Type.Object(
          {
            type: SecretType,
            value: Type.String(),
            metadata: Type.Optional(Metadata),
            expires_at: Type.Optional(Nullable(DateTime)),
            max_access_count: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: INT32_MAX }))),
            cas: Type.Optional(
              Type.Integer({
                minimum: 0,
                maximum: INT32_MAX,
                description: 'expected current version (0: must not exist)',
              }),
            ),
            cmek_fingerprint: Type.Optional(
              Type.String({
                ...Fingerprint,
                description: 'the customer-managed key the value was encrypted with (CMEK vaults)',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ path: Type.String(), version: Type.Integer(), created_at: DateTime }),
          ...errorResponses,
        },
      },
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
      schema: {
        tags: ['secrets'],
        summary: 'Read a secret (latest version, or ?version=N)',
        params: PathParams,
        querystring: Type.Object(
          { version: Type.Optional(Type.Integer({ minimum: 1, maximum: INT32_MAX })) },
          { additionalProperties: false },
        ),
        response: { 200: SecretValue, ...errorResponses },
      },
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
      schema: {
        tags: ['secrets'],
        summary: 'List secrets (metadata only, never values)',
        params: Type.Object({ vault_id: Uuid }),
        querystring: Type.Object(
          {
            prefix: Type.Optional(
              Patterned(/^[A-Za-z0-9_/-]*$/, 'prefix may use only A-Z a-z 0-9 _ - /', {
                maxLength: MAX_PATH,
              }),
            ),
            cursor: Type.Optional(
              Patterned(SECRET_PATH, 'cursor is not valid', {
                maxLength: MAX_PATH,
                description: 'next_cursor of the previous page',
              }),
            ),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ secrets: Type.Array(SecretMeta), next_cursor: Nullable(Type.String()) }),
          ...errorResponses,
        },
      },
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
      schema: {
        tags: ['secrets'],
        summary: "List a secret's versions (metadata only)",
        params: PathParams,
        response: { 200: Type.Object({ versions: Type.Array(VersionMeta) }), ...errorResponses },
      },
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
      schema: {
        tags: ['secrets'],
        summary: 'Delete a secret (soft); with destroy=true destroy every version irrecoverably',
        params: PathParams,
        querystring: Type.Object({ destroy: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...errorResponses },
      },
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
