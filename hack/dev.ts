// `make dev`: the local environment on this machine — a Kubernetes control plane, PostgreSQL
// and every KMS peer — started on free loopback ports, with how to reach each printed. Runs
// until Ctrl-C, then stops everything. `--once` starts, prints, checks and stops (used by the
// tests to keep this command working).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Peer } from '../test/support/peers/common.js';
import { startGcpKms } from '../test/support/peers/gcpkms.js';
import { startKube } from '../test/support/peers/kube.js';
import { startMoto } from '../test/support/peers/moto.js';
import { startOpenBao } from '../test/support/peers/openbao.js';
import { startPostgres } from '../test/support/peers/postgres.js';
import { startSoftHsm } from '../test/support/peers/softhsm.js';
import { reapOrphans } from '../test/support/proc.js';
import { cacheDir, tools } from '../test/support/tools.js';

const once = process.argv.includes('--once');
const started: Peer<unknown>[] = [];

async function up<I>(name: string, start: () => Promise<Peer<I>>): Promise<I> {
  const t0 = Date.now();
  const peer = await start();
  started.push(peer);
  console.log(`  ${name.padEnd(12)} up in ${Date.now() - t0} ms`);
  return peer.info;
}

async function down(): Promise<void> {
  await Promise.allSettled(started.map((p) => p.stop()));
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
  const env = {
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
  writeFileSync(
    envFile,
    `${Object.entries(env)
      .map(([k, v]) => `export ${k}=${v}`)
      .join('\n')}\n`,
    { mode: 0o600 },
  );

  console.log(`\nKubernetes ${kube.version} at ${kube.server}`);
  console.log(
    execFileSync(tools.kubectl(), ['--kubeconfig', kube.kubeconfig, 'get', 'namespaces'], {
      encoding: 'utf8',
    }),
  );
  console.log('Reach everything from another shell with:');
  console.log(`  source ${envFile}`);
  console.log(`  kubectl get ns          # kubectl ${kube.version.slice(1)}, KUBECONFIG=${kube.kubeconfig}`);
  console.log(`  psql "$ONECLAW_DATABASE_URL"   # ${pg.url}`);
  console.log(
    `  OpenBao ${bao.address} (token ${bao.token}), moto ${moto.endpoint}, GCP KMS emulator ${gcp.host}:${gcp.port}`,
  );
  console.log(`  SoftHSM2 token "${hsm.tokenLabel}" (PIN ${hsm.pin}), SOFTHSM2_CONF=${hsm.conf}`);

  if (once) {
    await down();
    console.log('dev environment check passed; stopped');
    return;
  }
  console.log('\nPress Ctrl-C to stop.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('\nstopping…');
  await down();
}

main().catch(async (err: unknown) => {
  console.error(`make dev failed: ${err instanceof Error ? err.message : String(err)}`);
  await down();
  process.exit(1);
});
