// A real oneclaw API for a test suite: its own migrated database on the shared PostgreSQL, the
// local KMS (or any key URI and settings the suite passes), bootstrapped with a known admin
// key. Requests go through app.inject (no port) unless the suite asks for a listener.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../api/src/config.js';
import { type RunningServer, startServer } from '../../api/src/server.js';
import { generateApiKey } from '../../api/src/services/auth/api-keys.js';
import { migratedDatabase, type TestDatabase } from './db.js';

export interface TestApi {
  app: FastifyInstance;
  db: TestDatabase;
  server: RunningServer;
  adminKey: string;
  /** Log lines the server wrote, parsed, for tests that check what is (not) logged. */
  logs: Array<Record<string, unknown>>;
  /** An admin access token (fetched once). */
  adminToken(): Promise<string>;
  /** app.inject with the admin token unless `token` is given (null: no Authorization). */
  request(opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function startTestApi(
  env: Record<string, string> = {},
  opts: {
    listen?: boolean;
    runJobs?: boolean;
    jobLeaseMs?: number;
    /** Another replica's database: shared, not dropped on close (pass the same keys in `env`). */
    db?: TestDatabase;
  } = {},
): Promise<TestApi> {
  const db = opts.db ?? (await migratedDatabase());
  const dataDir = mkdtempSync(join(tmpdir(), 'oneclaw-api-'));
  const adminKey = env.ONECLAW_BOOTSTRAP_ADMIN_KEY ?? generateApiKey('user');
  const config = loadConfig({
    ONECLAW_PROFILE: 'production',
    ONECLAW_DATABASE_URL: db.url,
    ONECLAW_DATA_DIR: dataDir,
    ONECLAW_KMS_KEY: 'local://main',
    ONECLAW_LOCAL_MASTER_KEY: randomBytes(32).toString('base64'),
    ONECLAW_SIGNING_KEY: 'local://jwt',
    ONECLAW_BOOTSTRAP_ADMIN_KEY: adminKey,
    ONECLAW_LISTEN: '127.0.0.1:0',
    ONECLAW_LOG_LEVEL: 'info',
    ...env,
  });
  // Production profile with a local signing key needs a key file; give it one.
  const signingKeyFile = join(dataDir, 'jwt.pem');
  const { generateLocalSigningKeyPem } = await import('../../api/src/kms/backends/local-signer.js');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(signingKeyFile, generateLocalSigningKeyPem(), { mode: 0o600 });
  config.signingKeyFile ??= signingKeyFile;

  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info', redact: { paths: (await import('../../api/src/app.js')).REDACT, censor: '[redacted]' } },
    { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const server = await startServer(config, {
    logger,
    listen: opts.listen ?? false,
    ...(opts.runJobs === undefined ? {} : { runJobs: opts.runJobs }),
    ...(opts.jobLeaseMs === undefined ? {} : { jobLeaseMs: opts.jobLeaseMs }),
  });
  let token: string | undefined;
  const adminToken = async () => {
    if (!token) {
      const res = await server.app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        payload: { api_key: adminKey },
      });
      if (res.statusCode !== 200) throw new Error(`token exchange failed: ${res.statusCode} ${res.body}`);
      token = (res.json() as { access_token: string }).access_token;
    }
    return token;
  };
  return {
    app: server.app,
    db,
    server,
    adminKey,
    logs,
    adminToken,
    async request({ token: t, ...rest }) {
      const bearer = t === undefined ? await adminToken() : t;
      return server.app.inject({
        ...rest,
        headers: { ...(rest.headers ?? {}), ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      });
    },
    async close() {
      await server.close();
      if (!opts.db) await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A test API for the enclosing describe block: started before its tests, closed after them.
 * The returned function gives it to the tests.
 */
export function testApiForSuite(
  env: Record<string, string> = {},
  opts: Parameters<typeof startTestApi>[1] = {},
): () => TestApi {
  let api: TestApi | undefined;
  beforeAll(async () => {
    api = await startTestApi(env, opts);
  });
  afterAll(async () => {
    await api?.close();
  });
  return () => {
    if (!api) throw new Error('the suite API is not started: use it inside a test');
    return api;
  };
}
