// `make dev`: the product on this machine — a Kubernetes control plane, the oneclaw API on its
// embedded default (PGlite, local KMS) trusting the cluster's service accounts, the operator,
// the sample resources of examples/ and a sample secret written through the API, synced into a
// Kubernetes Secret — plus PostgreSQL and every KMS peer for trying other backends, each on a
// free loopback port, with how to reach them printed. Runs until Ctrl-C, then stops everything.
// `--once` starts, prints, checks and stops (used by the tests to keep this command working).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../api/src/config.js';
import { createLogger, startServer } from '../api/src/server.js';
import { generateApiKey } from '../api/src/services/auth/api-keys.js';
import { loadOperatorConfig } from '../operator/src/config.js';
import { startOperator } from '../operator/src/operator.js';
import { createClient } from '../sdk/src/index.js';
import { crdFiles } from '../test/support/crds.js';
import type { Peer } from '../test/support/peers/common.js';
import { startGcpKms } from '../test/support/peers/gcpkms.js';
import { type KubeInfo, startKube } from '../test/support/peers/kube.js';
import { startMoto } from '../test/support/peers/moto.js';
import { startOpenBao } from '../test/support/peers/openbao.js';
import { startPostgres } from '../test/support/peers/postgres.js';
import { startSoftHsm } from '../test/support/peers/softhsm.js';
import { reapOrphans } from '../test/support/proc.js';
import { cacheDir, repoRoot, tools } from '../test/support/tools.js';

const once = process.argv.includes('--once');
// Ctrl-C ends the session: what has not stopped by then is killed with this process (every peer
// runs in a process group that test/support/proc.ts kills when its owner exits).
const STOP_BOUND_MS = 4_000;

interface Running {
  name: string;
  stop(): Promise<void>;
}
// The operator stops first, so it does not retry against what goes away; then the rest at once.
const stopFirst: Running[] = [];
const stopThen: Running[] = [];

async function up<I>(name: string, start: () => Promise<Peer<I>>): Promise<I> {
  const t0 = Date.now();
  const peer = await start();
  stopThen.push({ name, stop: () => peer.stop() });
  console.log(`  ${name.padEnd(12)} up in ${Date.now() - t0} ms`);
  return peer.info;
}

const pending = new Set<string>();
async function stopOne({ name, stop }: Running): Promise<void> {
  pending.add(name);
  const t0 = Date.now();
  try {
    await stop();
    console.log(`  ${name.padEnd(12)} stopped in ${Date.now() - t0} ms`);
  } catch (err) {
    console.log(`  ${name.padEnd(12)} failed to stop: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    pending.delete(name);
  }
}

let stopping: Promise<void> | undefined;
function shutdown(): Promise<void> {
  stopping ??= (async () => {
    await Promise.all(stopFirst.map(stopOne));
    await Promise.all(stopThen.map(stopOne));
  })();
  return stopping;
}

/** Shuts down within STOP_BOUND_MS; false when something was still stopping then. */
async function shutdownBounded(): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    shutdown().then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(resolve, STOP_BOUND_MS, false);
    }),
  ]);
  clearTimeout(timer);
  if (!stopped) console.log(`  still stopping after ${STOP_BOUND_MS} ms: ${[...pending].join(', ')}; killed`);
  return stopped;
}

async function main(): Promise<void> {
  reapOrphans();
  console.log('oneclaw dev environment: starting peers');
  const kube = await up('kube', startKube);
  const pg = await up('postgres', startPostgres);
  const bao = await up('openbao', startOpenBao);
  const moto = await up('moto', startMoto);
  const gcp = await up('gcp-kms', startGcpKms);
  const hsm = await up('softhsm', startSoftHsm);

  const envFile = join(cacheDir, 'dev.env');
  const env: Record<string, string> = {
    PATH: `${dirname(tools.kubectl())}:${process.env.PATH ?? ''}`,
    KUBECONFIG: kube.kubeconfig,
    ONECLAW_DATABASE_URL: pg.url,
    BAO_ADDR: bao.address,
    BAO_TOKEN: bao.token,
    AWS_ENDPOINT_URL_KMS: moto.endpoint,
    AWS_REGION: moto.region,
    AWS_ACCESS_KEY_ID: moto.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.secretAccessKey,
    ONECLAW_GCP_KMS_ENDPOINT: `${gcp.host}:${gcp.port}`,
    SOFTHSM2_CONF: hsm.conf,
    ONECLAW_PKCS11_MODULE: hsm.module,
  };
  writeEnvFile(envFile, env);

  console.log(`\nKubernetes ${kube.version} at ${kube.server}`);
  console.log(
    execFileSync(tools.kubectl(), ['--kubeconfig', kube.kubeconfig, 'get', 'namespaces'], {
      encoding: 'utf8',
    }),
  );
  const product = await startProduct(kube);
  env.ONECLAW_API_URL = product.apiUrl;
  writeEnvFile(envFile, env);

  console.log('Reach everything from another shell with:');
  console.log(`  source ${envFile}`);
  console.log(`  kubectl get ns          # kubectl ${kube.version.slice(1)}, KUBECONFIG=${kube.kubeconfig}`);
  console.log(`  psql "$ONECLAW_DATABASE_URL"   # ${pg.url}`);
  console.log(
    `  OpenBao ${bao.address} (token ${bao.token}), moto ${moto.endpoint}, GCP KMS emulator ${gcp.host}:${gcp.port}`,
  );
  console.log(`  SoftHSM2 token "${hsm.tokenLabel}" (PIN ${hsm.pin}), SOFTHSM2_CONF=${hsm.conf}`);

  console.log(
    `  oneclaw API ${product.apiUrl} (admin key in ${product.adminKeyFile}), operator metrics ${product.metricsUrl}`,
  );
  console.log(
    '  kubectl get oneclaw -n oneclaw-demo; kubectl get secret -n oneclaw-demo web-secrets -o yaml',
  );

  if (once) {
    await shutdown();
    console.log('dev environment check passed; stopped');
    return;
  }
  console.log('\nPress Ctrl-C to stop.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('\nstopping…');
  // A second Ctrl-C does not wait at all.
  process.once('SIGINT', () => process.exit(130));
  // Exiting, rather than returning, also drops what would keep the event loop turning (the
  // HTTP clients' idle keep-alive sockets, timers of the stopped parts).
  process.exit((await shutdownBounded()) ? 0 : 1);
}

/** The API, the operator, the examples and a sample secret, synced; returns how to reach them. */
async function startProduct(kube: KubeInfo) {
  const kubectl = (...args: string[]) =>
    execFileSync(tools.kubectl(), ['--kubeconfig', kube.kubeconfig, ...args], { encoding: 'utf8' });
  // While the operator runs in this process, waiting must not block its event loop.
  const kubectlAsync = async (...args: string[]) =>
    (await promisify(execFile)(tools.kubectl(), ['--kubeconfig', kube.kubeconfig, ...args])).stdout;
  // The CRDs and the SecretSync admission policy.
  kubectl('apply', '--server-side', '-f', join(repoRoot, 'crds'));
  kubectl('wait', '--for=condition=Established', ...crdFiles().flatMap((f) => ['-f', f]));
  kubectl('create', 'namespace', 'oneclaw-system');
  kubectl('create', 'serviceaccount', 'oneclaw-operator', '-n', 'oneclaw-system');

  // A fresh embedded database each run, like the control plane: the vaults the operator made
  // belong to the previous control plane's objects (their UIDs), so reusing them would conflict.
  const dataDir = mkdtempSync(join(tmpdir(), 'oneclaw-dev-'));
  const adminKeyFile = join(dataDir, 'admin-key');
  const adminKey = generateApiKey('user');
  writeFileSync(adminKeyFile, adminKey, { mode: 0o600 });
  const logger = createLogger('warn');
  const server = await startServer(
    loadConfig({
      ONECLAW_DATA_DIR: dataDir,
      ONECLAW_LISTEN: '127.0.0.1:0',
      ONECLAW_BOOTSTRAP_ADMIN_KEY: adminKey,
      ONECLAW_K8S_AUTH: 'tokenreview',
      ONECLAW_K8S_KUBECONFIG: kube.kubeconfig,
      ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: 'system:serviceaccount:oneclaw-system:oneclaw-operator',
    }),
    { logger },
  );
  stopThen.push({
    name: 'API',
    async stop() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
  const apiUrl = server.url as string;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kube.kubeconfig);
  const operator = await startOperator({
    config: {
      ...loadOperatorConfig({ ONECLAW_API_URL: apiUrl }),
      metricsListen: { host: '127.0.0.1', port: 0 },
    },
    kubeConfig,
    logger,
    apiUrl,
  });
  stopFirst.push({ name: 'operator', stop: () => operator.stop() });
  const t0 = Date.now();
  kubectl('apply', '-f', join(repoRoot, 'examples'));
  const vaultId = await waitFor('the demo vault', async () =>
    (
      await kubectlAsync('get', 'ocvault', 'demo', '-n', 'oneclaw-demo', '-o', 'jsonpath={.status.vaultId}')
    ).trim(),
  );
  const admin = createClient({ baseUrl: apiUrl, credentials: { apiKey: adminKey } });
  for (const [path, value] of [
    ['web/db/username', 'web'],
    ['web/db/password', `dev-${Date.now().toString(36)}`],
    ['web/env/LOG_LEVEL', 'debug'],
  ] as const) {
    await admin.secrets.put(vaultId, path, { type: 'password', value });
  }
  await waitFor('the synced Secret', () =>
    kubectlAsync(
      'get',
      'secret',
      'web-secrets',
      '-n',
      'oneclaw-demo',
      '--ignore-not-found',
      '-o',
      'jsonpath={.data.DB_PASSWORD}',
    ),
  );
  console.log(`\nThe sample is synced (${Date.now() - t0} ms from kubectl apply):`);
  console.log(kubectl('get', 'oneclaw', '-n', 'oneclaw-demo'));
  console.log(kubectl('describe', 'secret', 'web-secrets', '-n', 'oneclaw-demo'));
  return {
    apiUrl,
    adminKeyFile,
    metricsUrl: operator.metricsUrl,
  };
}

function writeEnvFile(path: string, env: Record<string, string>): void {
  writeFileSync(
    path,
    `${Object.entries(env)
      .map(([k, v]) => `export ${k}=${v}`)
      .join('\n')}\n`,
    { mode: 0o600 },
  );
}

async function waitFor(what: string, probe: () => Promise<string>, timeoutMs = 60_000): Promise<string> {
  const start = Date.now();
  for (;;) {
    const got = await probe();
    if (got) return got;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

main().catch(async (err: unknown) => {
  console.error(`make dev failed: ${err instanceof Error ? err.message : String(err)}`);
  await shutdownBounded();
  process.exit(1);
});
