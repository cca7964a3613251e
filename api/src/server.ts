// The composition root of `oneclaw server`: configuration → database (migrated) → KMS (fail-
// closed) → signing key → services → HTTP. Tests start the same thing on their own peers.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { createLimiter } from '../../common/src/limiter.js';
import { buildApp, REDACT } from './app.js';
import type { Config } from './config.js';
import { createEnvelope, type Envelope } from './crypto/envelope.js';
import { startEmbeddedDatabase } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { createPool, usePreparedStatements } from './db/pool.js';
import { trackConnections } from './http/connections.js';
import { generateLocalSigningKeyPem } from './kms/backends/local-signer.js';
import { bootKms } from './kms/boot.js';
import { createKekCache } from './kms/cache.js';
import type { Kms } from './kms/kms.js';
import { createKmsMetrics } from './kms/metrics.js';
import { openSigner } from './kms/registry.js';
import type { KmsSettings } from './kms/types.js';
import { createAgentService } from './services/agents/agent-service.js';
import { startAuditChainer } from './services/audit/audit-service.js';
import { createAuditWriter } from './services/audit/audit-writer.js';
import { createAuthService } from './services/auth/auth-service.js';
import { createAuthInvalidation } from './services/auth/invalidation.js';
import { createK8sValidator } from './services/auth/k8s-validator.js';
import { startSigningKeyRegistry } from './services/auth/signing-keys.js';
import { createTokenService } from './services/auth/tokens.js';
import { createCmekService } from './services/cmek/cmek-service.js';
import { createFeedHub, type FeedHub } from './services/events/feed.js';
import { createJobService } from './services/jobs/job-service.js';
import { KMS_MIGRATE, kmsMigrateHandler } from './services/jobs/kms-migrate.js';
import { ROTATE_KEK, rotateKekHandler } from './services/jobs/rotate-kek.js';
import { createJobRunner } from './services/jobs/runner.js';
import { createPolicyService } from './services/policies/policy-service.js';
import { createSecretService } from './services/secrets/secret-service.js';
import { createUserService } from './services/users/user-service.js';
import { createVaultService, type VaultService } from './services/vaults/vault-service.js';

export const VERSION = '0.1.0';

export interface RunningServer {
  app: FastifyInstance;
  /** Base URL when listening. */
  url: string | undefined;
  /** The one-time admin API key, when this start bootstrapped an empty database. */
  adminKey: string | undefined;
  /** The composed parts, for embedding and tests. */
  parts: { envelope: Envelope; vaults: VaultService; kms: Kms };
  close(): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } });
}

/** A dev-profile key persisted in the data directory (mode 0600), so restarts keep the data readable. */
function devFile(dataDir: string, name: string, make: () => string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, name);
  if (!existsSync(path)) writeFileSync(path, make(), { mode: 0o600, flag: 'wx' });
  return readFileSync(path, 'utf8');
}

function kmsSettings(config: Config, logger: Logger): KmsSettings {
  const settings: KmsSettings = { ...config.kms };
  const uris = [config.kmsKey, ...config.previousKmsKeys];
  const localName = uris.find((u) => u.startsWith('local://'))?.slice('local://'.length);
  if (localName && !settings.local?.masterKeys && config.profile === 'dev') {
    const key = devFile(config.dataDir, 'dev-master-key', () => randomBytes(32).toString('base64'));
    settings.local = { masterKeys: { [localName]: Buffer.from(key.trim(), 'base64') } };
    logger.warn(
      { dataDir: config.dataDir },
      'dev profile: using a generated local master key from the data directory',
    );
  }
  if (config.signingKey.startsWith('local://')) {
    const name = config.signingKey.slice('local://'.length);
    let pem: string | undefined;
    if (config.signingKeyFile) pem = readFileSync(config.signingKeyFile, 'utf8');
    else if (config.profile === 'dev')
      pem = devFile(config.dataDir, 'dev-signing-key.pem', generateLocalSigningKeyPem);
    if (pem) settings.local = { ...settings.local, signingKeyPems: { [name]: pem } };
  }
  return settings;
}

export interface StartOptions {
  logger?: Logger;
  listen?: boolean;
  /** Run background jobs in this process (default true). */
  runJobs?: boolean;
  jobLeaseMs?: number;
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const cleanups: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of cleanups.reverse())
      await c().catch((err: unknown) => logger.warn({ err }, 'shutdown step failed'));
  };
  try {
    let databaseUrl = config.databaseUrl;
    let maxConnections = config.databasePoolMax;
    if (!databaseUrl) {
      const embedded = await startEmbeddedDatabase(config.dataDir);
      cleanups.push(() => embedded.stop());
      databaseUrl = embedded.url;
      maxConnections = embedded.maxConnections;
      usePreparedStatements(false);
      logger.warn(
        { dataDir: config.dataDir },
        'no ONECLAW_DATABASE_URL: using the embedded development database',
      );
    }
    await migrate(databaseUrl, logger);
    const pool = createPool(databaseUrl, { max: maxConnections });
    cleanups.push(() => pool.end());
    // The change feed's one LISTEN connection; stopped before the pool ends. PGlite does not
    // deliver NOTIFY across connections, so on the embedded database followers poll instead.
    const invalidation = createAuthInvalidation();
    let feed: FeedHub | undefined;
    if (config.databaseUrl) {
      const hub = createFeedHub({ databaseUrl, pool, logger, listeners: [invalidation.listener] });
      await hub.start();
      cleanups.push(() => hub.stop());
      feed = hub;
    }

    const registry = new Registry();
    const metrics = createKmsMetrics(registry);
    const settings = kmsSettings(config, logger);
    const kms = await bootKms({
      keyUri: config.kmsKey,
      previousKeyUris: config.previousKmsKeys,
      settings,
      profile: config.profile,
      logger,
      metrics,
    });
    cleanups.push(() => kms.close());
    const signer = await openSigner(config.signingKey, settings);
    cleanups.push(async () => signer.close?.());
    logger.info({ alg: signer.alg, kid: signer.kid }, 'token signing key ready');

    const cache = createKekCache({ ...config.kekCache, metrics });
    cleanups.push(async () => cache.clear());
    const envelope = createEnvelope({ kms, cache });
    const signingKeys = await startSigningKeyRegistry({
      pool,
      current: await signer.publicJwk(),
      tokenTtlSeconds: config.tokenTtlSeconds,
      logger,
    });
    cleanups.push(async () => signingKeys.stop());
    const tokens = await createTokenService({
      signer,
      ttlSeconds: config.tokenTtlSeconds,
      trustedKeys: signingKeys.trusted,
      cacheMaxEntries: config.tokenCacheMaxEntries,
    });
    const k8s = createK8sValidator(config.k8s);
    if (k8s) logger.info({ mode: k8s.mode }, 'Kubernetes service-account authentication enabled');
    const audit = createAuditWriter({ db: pool });
    const auth = createAuthService({
      pool,
      audit,
      tokens,
      logger,
      invalidation,
      k8s,
      k8sAdmins: config.k8sAdminServiceAccounts,
    });
    const vaults = createVaultService({ pool, kms, kmsKeyUri: config.kmsKey, envelope, cache });
    const agents = createAgentService({ pool, invalidation });
    const users = createUserService({ pool, invalidation });
    const policies = createPolicyService({ pool, vaults, invalidation });
    const secrets = createSecretService({
      pool,
      envelope,
      audit,
      maxValueBytes: config.maxSecretBytes,
      kmsCalls: createLimiter({ perSecond: config.limits.kmsCallsPerSecond }),
    });
    const jobOwner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const runner = createJobRunner({
      pool,
      logger,
      owner: jobOwner,
      handlers: {
        [ROTATE_KEK]: rotateKekHandler({ pool, envelope, vaults }),
        [KMS_MIGRATE]: kmsMigrateHandler({ pool, kms, kmsKeyUri: config.kmsKey, envelope, vaults }),
      },
      leaseMs: opts.jobLeaseMs ?? config.jobLeaseMs,
    });
    const jobs = createJobService({ pool, vaults, kms, onCreated: () => runner.poke() });
    // CMEK rotations run where their keys arrived, never through the shared runner.
    const cmek = createCmekService({
      pool,
      envelope,
      vaults,
      logger,
      owner: jobOwner,
      leaseMs: opts.jobLeaseMs ?? config.jobLeaseMs,
    });
    cleanups.push(() => cmek.stop());

    const boot = await auth.bootstrap({ orgName: 'default', adminKey: config.bootstrapAdminKey });
    if (boot.created) logger.info('bootstrapped the organization and its admin user');

    const app = await buildApp({
      logger,
      pool,
      audit,
      kms,
      registry,
      auth,
      tokens,
      agents,
      users,
      policies,
      vaults,
      secrets,
      jobs,
      cmek,
      feed,
      maxValueBytes: config.maxSecretBytes,
      version: VERSION,
      trustedProxies: config.trustedProxies,
      authRateLimitPerMinute: config.authRateLimitPerMinute,
      limits: config.limits,
    });
    cleanups.push(() => app.close());
    const connections = trackConnections(app.server);
    app.addHook('preClose', async () => connections.closeWhenIdle());
    if (opts.runJobs !== false) {
      runner.start();
      cleanups.push(() => runner.stop());
    }
    const chainer = startAuditChainer({ pool, logger });
    cleanups.push(() => chainer.stop());
    let url: string | undefined;
    if (opts.listen !== false) {
      url = await app.listen({ host: config.listen.host, port: config.listen.port });
    } else {
      await app.ready();
    }
    return { app, url, adminKey: boot.adminKey, parts: { envelope, vaults, kms }, close };
  } catch (err) {
    await close();
    throw err;
  }
}
