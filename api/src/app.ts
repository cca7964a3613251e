// buildApp(deps): the HTTP service, used by the server process and by tests (app.inject or a
// real listener). Everything it needs comes in through `deps`; nothing here opens connections.
import { randomUUID } from 'node:crypto';
import AjvCompiler from '@fastify/ajv-compiler';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import Type from 'typebox';
import { ErrorResponse } from '../../contract/src/common.js';
import { DEFAULT_LIMITS, type Limits } from './config.js';
import { pingDatabase } from './db/health-store.js';
import { registerAuth } from './http/auth.js';
import { errorBody, registerErrorHandling } from './http/errors.js';
import { registerRequestRateLimits } from './http/limits.js';
import { registerMethodNotAllowed } from './http/method-not-allowed.js';
import { registerHttpMetrics } from './http/metrics.js';
import { agentRoutes } from './http/routes/v1/agents.js';
import { auditRoutes } from './http/routes/v1/audit.js';
import { authRoutes } from './http/routes/v1/auth.js';
import { cmekRoutes } from './http/routes/v1/cmek.js';
import { eventRoutes } from './http/routes/v1/events.js';
import { jobRoutes } from './http/routes/v1/jobs.js';
import { policyRoutes } from './http/routes/v1/policies.js';
import { secretRoutes } from './http/routes/v1/secrets.js';
import { userRoutes } from './http/routes/v1/users.js';
import { vaultRoutes } from './http/routes/v1/vaults.js';
import type { Kms } from './kms/kms.js';
import type { AgentService } from './services/agents/agent-service.js';
import type { AuditWriter } from './services/audit/audit-writer.js';
import type { AuthService } from './services/auth/auth-service.js';
import type { TokenService } from './services/auth/tokens.js';
import type { CmekService } from './services/cmek/cmek-service.js';
import { rateLimited } from './services/errors.js';
import { createPollingFeed, type Feed } from './services/events/feed.js';
import type { JobService } from './services/jobs/job-service.js';
import type { PolicyService } from './services/policies/policy-service.js';
import type { SecretService } from './services/secrets/secret-service.js';
import type { UserService } from './services/users/user-service.js';
import type { VaultService } from './services/vaults/vault-service.js';

export interface AppDeps {
  logger: Logger;
  pool: pg.Pool;
  /** Group commit for audit records of requests that change nothing else (denials). */
  audit: AuditWriter;
  kms: Kms;
  registry: Registry;
  auth: AuthService;
  tokens: TokenService;
  agents: AgentService;
  users: UserService;
  policies: PolicyService;
  vaults: VaultService;
  secrets: SecretService;
  jobs: JobService;
  cmek: CmekService;
  /** The change feed's wake-ups (the server's LISTEN hub); without one, followers poll every second. */
  feed?: Feed;
  maxValueBytes: number;
  version: string;
  /** CIDRs of proxies whose X-Forwarded-For is believed (default: none; the socket address counts). */
  trustedProxies?: string[];
  /** Token exchanges per client address per minute (default 60; 0: unlimited). */
  authRateLimitPerMinute?: number;
  /** Per-principal limits (default DEFAULT_LIMITS; the KMS budget is the secret service's). */
  limits?: Limits;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Paths of log fields that may carry credentials or values; pino replaces them. */
export const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-cmek-old-key"]',
  'req.headers["x-cmek-new-key"]',
  '*.api_key',
  '*.value',
  '*.access_token',
  '*.token',
  '*.password',
];

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { maxParamLength: 600 },
    // Policies' IP conditions and rate limits key on req.ip: only a listed proxy may set it.
    trustProxy: deps.trustedProxies?.length ? deps.trustedProxies : false,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Bodies are validated as sent: no type coercion, so `"disabled": 0` or `"expires_at": ""`
  // is a 400, never a silent false or "no expiry". Query strings and path parameters are text
  // on the wire and are coerced (`?purge=true`).
  const validators = AjvCompiler();
  const ajvFor = (coerceTypes: false | 'array') => ({
    customOptions: { coerceTypes, removeAdditional: false as const, allErrors: false },
  });
  app.setValidatorCompiler((route) =>
    validators({}, ajvFor(route.httpPart === 'body' ? false : 'array'))(route),
  );

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
    reply.header('cache-control', 'no-store');
  });
  registerErrorHandling(app);
  registerMethodNotAllowed(app);
  registerHttpMetrics(app, deps.registry, deps.pool);
  app.addSchema(ErrorResponse);

  await app.register(swagger, {
    openapi: {
      info: { title: 'oneclaw API', version: deps.version, description: 'Kubernetes-native secrets manager' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  registerAuth(app, { auth: deps.auth, policies: deps.policies, audit: deps.audit });
  const limits = deps.limits ?? DEFAULT_LIMITS;
  registerRequestRateLimits(app, {
    memberPerSecond: limits.requestsPerSecond,
    adminPerSecond: limits.adminRequestsPerSecond,
  });
  const perMinute = deps.authRateLimitPerMinute ?? 60;
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, ctx) =>
      rateLimited(`too many requests; retry in ${Math.ceil(ctx.ttl / 1000)} s`),
  });

  const hidden = { hide: true };
  app.get('/openapi.json', { schema: hidden }, async () => app.swagger());
  app.get(
    '/healthz',
    { schema: { ...hidden, response: { 200: Type.Object({ status: Type.String() }) } } },
    async () => ({ status: 'ok' }),
  );

  // Readiness: the database answers and the KMS round-trips (remembered briefly, so probes do
  // not turn into a KMS load).
  let kmsOkUntil = 0;
  app.get('/readyz', { schema: hidden }, async (req, reply) => {
    const problems: string[] = [];
    try {
      await pingDatabase(deps.pool);
    } catch {
      problems.push('database');
    }
    if (Date.now() > kmsOkUntil) {
      try {
        const context = { purpose: 'readiness' };
        const probe = Buffer.alloc(32, 1);
        const back = await deps.kms.unwrap(await deps.kms.wrap(probe, context), context);
        if (!back.equals(probe)) throw new Error('round trip mismatch');
        kmsOkUntil = Date.now() + 15_000;
      } catch {
        problems.push('kms');
      }
    }
    if (problems.length) {
      return reply.status(503).send(errorBody('not_ready', `unavailable: ${problems.join(', ')}`, req.id));
    }
    return { status: 'ready' };
  });
  app.get('/metrics', { schema: hidden }, async (_req, reply) => {
    reply.header('content-type', deps.registry.contentType);
    return deps.registry.metrics();
  });
  app.get('/.well-known/jwks.json', { schema: hidden }, async () => deps.tokens.jwks());

  await app.register(authRoutes, {
    auth: deps.auth,
    rateLimit: perMinute > 0 ? { max: perMinute, timeWindow: '1 minute' } : undefined,
  });
  await app.register(vaultRoutes, { vaults: deps.vaults, policies: deps.policies });
  await app.register(agentRoutes, { agents: deps.agents });
  await app.register(userRoutes, { users: deps.users });
  await app.register(policyRoutes, { policies: deps.policies });
  await app.register(secretRoutes, { secrets: deps.secrets, maxValueBytes: deps.maxValueBytes });
  await app.register(jobRoutes, { jobs: deps.jobs });
  await app.register(cmekRoutes, { cmek: deps.cmek, vaults: deps.vaults });
  await app.register(eventRoutes, {
    feed: deps.feed ?? createPollingFeed({ pool: deps.pool }),
    pool: deps.pool,
    maxSubscriptionsPerPrincipal: limits.feedSubscriptionsPerPrincipal,
  });
  await app.register(auditRoutes, { pool: deps.pool });
  return app;
}
