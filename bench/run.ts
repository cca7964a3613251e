// `make bench`: starts the real peers, runs every benchmark, and writes bench/results/report.md
// (and .json) with medians, p99s and ratios against the peer measured side by side.
// BENCH_ONLY=api-load (comma-separated: envelope, kms, api-load, operator, cmek) runs some sections only; the
// others are kept from the previous report.json and marked as such (BENCH_ONLY=none: re-render only).

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { Registry } from 'prom-client';
import { createEnvelope } from '../api/src/crypto/envelope.js';
import { createKekCache } from '../api/src/kms/cache.js';
import { createKms, type Kms } from '../api/src/kms/kms.js';
import { createKmsMetrics } from '../api/src/kms/metrics.js';
import { openBackend } from '../api/src/kms/registry.js';
import type { KmsBackend } from '../api/src/kms/types.js';
import type { Peer } from '../test/support/peers/common.js';
import { createGcpKey, startGcpKms } from '../test/support/peers/gcpkms.js';
import { startKube } from '../test/support/peers/kube.js';
import { startMoto } from '../test/support/peers/moto.js';
import { type OpenBaoInfo, startOpenBao } from '../test/support/peers/openbao.js';
import { startDurableOpenBao } from '../test/support/peers/openbao-durable.js';
import { startPostgres } from '../test/support/peers/postgres.js';
import { startSoftHsm } from '../test/support/peers/softhsm.js';
import { reapOrphans } from '../test/support/proc.js';
import { vaultWithNewKek } from '../test/support/vault-keys.js';
import { type ApiLoadData, assertDistCurrent, renderApiLoad, runApiLoad } from './api-load.js';
import { type CmekRotationData, renderCmekRotation, runCmekRotation } from './cmek-rotation.js';
import { type Measurement, measure, table } from './lib.js';
import { type OperatorScaleData, renderOperatorScale, runOperatorScale } from './operator-scale.js';

const SECTIONS = ['envelope', 'kms', 'api-load', 'operator', 'cmek'] as const;
type Section = (typeof SECTIONS)[number];

function selectedSections(): Section[] {
  // BENCH_ONLY=none re-renders the report from report.json without measuring anything.
  if (process.env.BENCH_ONLY?.trim() === 'none') return [];
  const raw = process.env.BENCH_ONLY?.trim();
  if (!raw) return [...SECTIONS];
  const names = raw.split(',').map((n) => n.trim());
  for (const n of names) {
    if (!(SECTIONS as readonly string[]).includes(n))
      throw new Error(`BENCH_ONLY: unknown section ${n} (sections: ${SECTIONS.join(', ')})`);
  }
  return SECTIONS.filter((n) => names.includes(n));
}

/** Each section's markdown is a function of its report.json data, so kept sections re-render. */
const render: Record<Section, (data: unknown) => string> = {
  envelope: (data) => {
    const rows = data as Measurement[];
    return (
      '## Envelope seal/open vs OpenBao transit (same machine, same run)\n\n' +
      'oneclaw encrypts in process under a cached KEK; a transit user pays an HTTP round trip per value.\n' +
      'Ratio column: median relative to `OpenBao transit encrypt 256 B` (lower is faster).\n\n' +
      table(rows, rows[2])
    );
  },
  kms: (data) => {
    const rows = data as Measurement[];
    return (
      '## KMS round trips (one caller, sequential) on each real peer\n\n' +
      'What a cold KEK costs: one unwrap per KEK per cache lifetime. Ratio column: median relative to local unwrap.\n\n' +
      table(rows, rows[1])
    );
  },
  'api-load': (data) => renderApiLoad(data as ApiLoadData),
  operator: (data) => renderOperatorScale(data as OperatorScaleData),
  cmek: (data) => renderCmekRotation(data as CmekRotationData),
};

interface RunMeta {
  measured_at: string;
  machine: string;
}

const peers: Peer<unknown>[] = [];
async function up<I>(start: () => Promise<Peer<I>>): Promise<I> {
  const p = await start();
  peers.push(p);
  return p.info;
}

async function transitCall(
  address: string,
  token: string,
  path: string,
  body: unknown,
): Promise<Record<string, string>> {
  const res = await fetch(`${address}/v1/${path}`, {
    method: 'POST',
    headers: { 'x-vault-token': token, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  const text = await res.text();
  return text ? ((JSON.parse(text) as { data: Record<string, string> }).data ?? {}) : {};
}

type Metrics = ReturnType<typeof createKmsMetrics>;
interface BaoInfo {
  address: string;
  token: string;
}

async function envelopeSection(bao: BaoInfo, metrics: Metrics): Promise<Measurement[]> {
  // ── 1. Envelope seal/open of a 256-byte value, warm KEK cache, vs OpenBao transit ──
  const local = createKms({
    current: await openBackend('local://bench', { local: { masterKeys: { bench: randomBytes(32) } } }),
    metrics,
  });
  const env = createEnvelope({
    kms: local,
    cache: createKekCache({ maxEntries: 1000, ttlMs: 600_000, metrics }),
  });
  const vault = await vaultWithNewKek(env, 'org', 'vault');
  const value = randomBytes(256);
  const sealed = await env.seal(vault, 'app/db/password', 1, value);
  await transitCall(bao.address, bao.token, 'transit/keys/bench', { type: 'aes256-gcm96' });
  const b64 = value.toString('base64');
  const transitCt = (await transitCall(bao.address, bao.token, 'transit/encrypt/bench', { plaintext: b64 }))
    .ciphertext;

  const envelopeRows = [
    await measure('oneclaw seal 256 B (warm KEK)', () => env.seal(vault, 'app/db/password', 1, value), {
      iterations: 20_000,
    }),
    await measure('oneclaw open 256 B (warm KEK)', () => env.open(vault, 'app/db/password', 1, sealed), {
      iterations: 20_000,
    }),
    await measure(
      'OpenBao transit encrypt 256 B',
      () => transitCall(bao.address, bao.token, 'transit/encrypt/bench', { plaintext: b64 }),
      { iterations: 1_000 },
    ),
    await measure(
      'OpenBao transit decrypt 256 B',
      () => transitCall(bao.address, bao.token, 'transit/decrypt/bench', { ciphertext: transitCt }),
      { iterations: 1_000 },
    ),
  ];
  return envelopeRows;
}

async function kmsSection(bao: BaoInfo, metrics: Metrics): Promise<Measurement[]> {
  const moto = await up(startMoto);
  const gcp = await up(startGcpKms);
  const hsm = await up(() => startSoftHsm('bench'));
  process.env.SOFTHSM2_CONF = hsm.conf;
  // ── 2. KMS round trip (wrap + unwrap of 32 bytes) on each backend's real peer ──
  const awsClient = new KMSClient({
    endpoint: moto.endpoint,
    region: moto.region,
    credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
  });
  const awsKey = await awsClient.send(new CreateKeyCommand({ KeyUsage: 'ENCRYPT_DECRYPT' }));
  awsClient.destroy();
  await transitCall(bao.address, bao.token, 'transit/keys/kek', { type: 'aes256-gcm96' });
  const gcpKey = await createGcpKey(gcp, 'bench');
  const { createPkcs11Key } = await import('../api/src/kms/backends/pkcs11/index.js');
  await createPkcs11Key({ module: hsm.module, token: hsm.tokenLabel, pin: hsm.pin, label: 'kek' });

  const backends: Array<[string, () => Promise<KmsBackend>]> = [
    ['local', () => openBackend('local://k', { local: { masterKeys: { k: randomBytes(32) } } })],
    [
      'transit (OpenBao)',
      () => openBackend('transit://transit/kek', { transit: { address: bao.address, token: bao.token } }),
    ],
    [
      'awskms (moto)',
      () =>
        openBackend(`awskms://${awsKey.KeyMetadata?.KeyId}?region=${moto.region}`, {
          awskms: {
            endpoint: moto.endpoint,
            credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
          },
        }),
    ],
    [
      'gcpkms (emulator)',
      () =>
        openBackend(`gcpkms://${gcpKey}`, {
          gcpkms: { apiEndpoint: gcp.host, port: gcp.port, insecure: true },
        }),
    ],
    [
      'pkcs11 (SoftHSM2)',
      () => openBackend(`pkcs11://${hsm.tokenLabel}/kek?module=${hsm.module}`, { pkcs11: { pin: hsm.pin } }),
    ],
  ];
  const kmsRows: Measurement[] = [];
  const ctx = { purpose: 'kek', org_id: 'org', vault_id: 'vault', kek_version: '1' };
  for (const [name, open] of backends) {
    const kms: Kms = createKms({ current: await open(), metrics });
    const blob = await kms.wrap(randomBytes(32), ctx);
    kmsRows.push(
      await measure(`${name} wrap 32 B`, () => kms.wrap(randomBytes(32), ctx), { iterations: 300 }),
    );
    kmsRows.push(await measure(`${name} unwrap 32 B`, () => kms.unwrap(blob, ctx), { iterations: 300 }));
    await kms.close();
  }
  return kmsRows;
}

function readPrevious(out: string): { json: Record<string, unknown>; measuredAt: string | undefined } {
  const file = join(out, 'report.json');
  if (!existsSync(file)) return { json: {}, measuredAt: undefined };
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // Reports from before per-section metadata: the date in the old report's header.
  let measuredAt: string | undefined;
  try {
    measuredAt = /Machine: .*, (\d{4}-\d\d-\d\dT[^\s]+)/.exec(
      readFileSync(join(out, 'report.md'), 'utf8'),
    )?.[1];
  } catch {
    // no markdown report
  }
  return { json, measuredAt };
}

async function main(): Promise<void> {
  reapOrphans();
  const started = Date.now();
  const only = selectedSections();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
  const now = new Date().toISOString();
  const out = join(import.meta.dirname, 'results');
  const previous = readPrevious(out);
  const prevMeta = (previous.json._meta ?? {}) as Record<string, RunMeta>;

  // Peers start when a selected section first needs them.
  let bao: OpenBaoInfo | undefined;
  const openBao = async () => {
    bao ??= await up(startOpenBao);
    return bao;
  };
  const metrics = createKmsMetrics(new Registry());
  const json: Record<string, unknown> = {};
  const meta: Record<string, RunMeta> = {};
  /**
   * Writes the report: this run's sections so far, and earlier results for the rest. Called after
   * each section, so a section that fails later does not lose the ones measured before it.
   */
  const writeReport = (final: boolean) => {
    const report: Record<string, unknown> = { ...json };
    const reportMeta: Record<string, RunMeta> = { ...meta };
    const kept: string[] = [];
    for (const section of SECTIONS) {
      if (report[section] !== undefined || previous.json[section] === undefined) continue;
      report[section] = previous.json[section];
      const m = prevMeta[section] ?? { measured_at: previous.measuredAt ?? 'an earlier run', machine };
      reportMeta[section] = m;
      kept.push(`\`${section}\` (${m.measured_at})`);
    }
    const sections = SECTIONS.filter((sec) => report[sec] !== undefined).map((sec) =>
      render[sec](report[sec]),
    );
    report._meta = reportMeta;
    const measured = Object.keys(json);
    const header =
      `# oneclaw benchmarks\n\nMachine: ${machine}, ${now}\n` +
      (kept.length
        ? `\nRe-measured in this run: ${measured.length ? measured.map((o) => `\`${o}\``).join(', ') : 'nothing (re-rendered only)'}. Kept from earlier runs (same generator, not re-measured): ${kept.join(', ')}.\n`
        : '');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'report.md'), `${header}\n${sections.join('\n\n')}\n`);
    writeFileSync(join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    if (final) {
      console.log(
        `${header}\n${sections.join('\n\n')}\n\nwritten to bench/results/report.md in ${Math.round((Date.now() - started) / 1000)} s`,
      );
    }
  };

  for (const section of only) {
    if (section === 'envelope') json.envelope = await envelopeSection(await openBao(), metrics);
    if (section === 'kms') json.kms = await kmsSection(await openBao(), metrics);
    if (section === 'api-load') {
      assertDistCurrent();
      const postgres = await up(() => startPostgres({ fsync: true }));
      const durableBao = await up(startDurableOpenBao);
      json['api-load'] = await runApiLoad({ bao: await openBao(), durableBao, postgres });
    }
    if (section === 'operator') {
      // A PostgreSQL of its own, so the api-load run's data and WAL do not weigh on it.
      const postgres = await up(() => startPostgres({ fsync: true }));
      const kube = await up(startKube);
      json.operator = await runOperatorScale({ kube, postgres });
    }
    if (section === 'cmek') {
      const postgres = await up(() => startPostgres({ fsync: true }));
      json.cmek = await runCmekRotation({ postgres, bao: await openBao() });
    }
    meta[section] = { measured_at: now, machine };
    writeReport(false);
  }
  writeReport(true);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.allSettled(peers.map((p) => p.stop()));
  });
