// `oneclaw server` as a separate process, for suites and benchmarks that must kill it (kill -9
// mid-job) or keep its CPU apart from the load generator's. Configured as a production server
// on the given database with a local KMS and a fresh Ed25519 signing key file.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateApiKey } from '../../api/src/services/auth/api-keys.js';
import { httpOk } from './peers/common.js';
import { freePort } from './ports.js';
import { type ManagedProcess, spawnManaged, waitFor } from './proc.js';
import { repoRoot } from './tools.js';

export interface OneclawServer {
  name: string;
  url: string;
  proc: ManagedProcess;
}

/**
 * This process's environment without ONECLAW_* variables, for a spawned server or operator: they
 * reject unknown ONECLAW_* variables (ONECLAW_CACHE is the harness's, not theirs).
 */
export function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ONECLAW_')));
}

/** The environment of a production-profile server on `databaseUrl`, with its admin key. */
export function serverEnv(
  dir: string,
  databaseUrl: string,
  extra: Record<string, string> = {},
): { env: Record<string, string>; adminKey: string } {
  const signingKeyFile = join(dir, 'jwt.pem');
  writeFileSync(
    signingKeyFile,
    generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    { mode: 0o600 },
  );
  const adminKey = generateApiKey('user');
  return {
    adminKey,
    env: {
      ONECLAW_PROFILE: 'production',
      ONECLAW_DATABASE_URL: databaseUrl,
      ONECLAW_DATA_DIR: dir,
      ONECLAW_KMS_KEY: 'local://main',
      ONECLAW_LOCAL_MASTER_KEY: randomBytes(32).toString('base64'),
      ONECLAW_SIGNING_KEY: 'local://jwt',
      ONECLAW_SIGNING_KEY_FILE: signingKeyFile,
      ONECLAW_BOOTSTRAP_ADMIN_KEY: adminKey,
      ONECLAW_LOG_LEVEL: 'warn',
      ...extra,
    },
  };
}

/** `bin/oneclaw <command>` from the repository root with exactly `env`, logging to `<logDir>/<name>.log`. */
export function spawnOneclaw(
  name: string,
  command: 'server' | 'operator',
  logDir: string,
  env: NodeJS.ProcessEnv,
): ManagedProcess {
  return spawnManaged({
    name,
    command: join(repoRoot, 'bin/oneclaw'),
    args: [command],
    logFile: join(logDir, `${name}.log`),
    cwd: repoRoot,
    env,
  });
}

/** Starts `bin/oneclaw server` on a free port and waits until it is ready. */
export async function startOneclaw(
  name: string,
  env: Record<string, string>,
  logDir: string,
): Promise<OneclawServer> {
  const port = await freePort();
  const proc = spawnOneclaw(name, 'server', logDir, {
    ...inheritedEnv(),
    ...env,
    ONECLAW_LISTEN: `127.0.0.1:${port}`,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${name} on ${url}`, () => httpOk(`${url}/readyz`), { process: proc, timeoutMs: 90_000 });
  return { name, url, proc };
}

/** One JSON request to a server process: its status and parsed body. */
export async function serverCall<T>(
  server: OneclawServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
