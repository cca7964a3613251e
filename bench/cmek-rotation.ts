// CMEK rotation throughput: 10,000 secrets re-encrypted from one customer key to the next, by
// the server-assisted job (keys sent once; the API process decrypts and re-encrypts in batches
// of 100 per transaction, fsync on) and by the SDK's client-side rotation (read, decrypt,
// encrypt, write a new version per secret; keys never leave the client). Side by side on the
// same machine: OpenBao transit `rewrap` of as many ciphertexts after a key rotation (batches of
// 100 per request), the nearest thing a Vault user has to re-encrypting under a new key.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { cmekEncrypt, cmekFingerprint } from '../api/src/services/cmek/format.js';
import { createClient } from '../sdk/src/index.js';
import { makeWorkDir } from '../test/support/peers/common.js';
import type { OpenBaoInfo } from '../test/support/peers/openbao.js';
import type { PostgresInfo } from '../test/support/peers/postgres.js';
import { type OneclawServer, startOneclaw } from '../test/support/server-process.js';
import { adminAuth, benchServerEnv, call, envInt, parallel } from './api-load.js';

export interface CmekRotationSettings {
  secrets: number;
  runs: number;
}

function cmekRotationSettings(): CmekRotationSettings {
  return { secrets: envInt('BENCH_CMEK_SECRETS', 10_000), runs: envInt('BENCH_CMEK_RUNS', 3) };
}

interface Row {
  name: string;
  items: number;
  /** Wall-clock seconds of each run. */
  seconds: number[];
}

export interface CmekRotationData {
  settings: CmekRotationSettings;
  rows: Row[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function timed(what: string, fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  const s = (performance.now() - t0) / 1000;
  console.log(`  ${what}: ${s.toFixed(1)} s`);
  return s;
}

export async function runCmekRotation(opts: {
  postgres: PostgresInfo;
  bao: OpenBaoInfo;
}): Promise<CmekRotationData> {
  const s = cmekRotationSettings();
  const work = makeWorkDir('bench-cmek');
  let server: OneclawServer | undefined;
  const rows: Row[] = [];
  try {
    const { env, adminKey } = await benchServerEnv(opts.postgres, 'bench_cmek', work.dir, {
      ONECLAW_TOKEN_TTL_SECONDS: '3600',
      ONECLAW_AUTH_RATE_LIMIT: '0',
    });
    server = await startOneclaw('oneclaw-cmek', env, work.dir);
    const url = server.url;
    const auth = await adminAuth(url, adminKey);
    const keys = Array.from({ length: s.runs + 2 }, () => randomBytes(32));
    const vault = await call<{ id: string }>('POST', `${url}/v1/vaults`, auth, { name: 'cmek-bench' });
    await call('POST', `${url}/v1/vaults/${vault.id}/cmek`, auth, {
      fingerprint: cmekFingerprint(keys[0] as Buffer),
    });
    const value = (i: number) => `value-${i}-${randomBytes(96).toString('base64url')}`;
    await timed(`fill: ${s.secrets} CMEK secrets, 16 in flight`, () =>
      parallel(s.secrets, 16, (i) =>
        call('PUT', `${url}/v1/vaults/${vault.id}/secrets/svc-${Math.floor(i / 100)}/key-${i}`, auth, {
          type: 'password',
          value: cmekEncrypt(Buffer.from(value(i)), keys[0] as Buffer).toString('base64'),
          cmek_fingerprint: cmekFingerprint(keys[0] as Buffer),
        }),
      ),
    );

    const server_: Row = { name: 'oneclaw server-assisted rotation', items: s.secrets, seconds: [] };
    for (let r = 0; r < s.runs; r++) {
      const [from, to] = [keys[r] as Buffer, keys[r + 1] as Buffer];
      server_.seconds.push(
        await timed(`server-assisted rotation ${r + 1}/${s.runs}`, async () => {
          const job = await call<{ id: string }>(
            'POST',
            `${url}/v1/vaults/${vault.id}/cmek-rotate`,
            { ...auth, 'x-cmek-old-key': from.toString('base64'), 'x-cmek-new-key': to.toString('base64') },
            { new_fingerprint: cmekFingerprint(to) },
          );
          for (;;) {
            const j = await call<{ status: string; processed: number; error: string | null }>(
              'GET',
              `${url}/v1/vaults/${vault.id}/cmek-rotate/${job.id}`,
              auth,
            );
            if (j.status === 'succeeded') {
              if (j.processed !== s.secrets)
                throw new Error(`rotation processed ${j.processed} of ${s.secrets}`);
              return;
            }
            if (j.status !== 'running') throw new Error(`rotation ${j.status}: ${j.error}`);
            await sleep(50);
          }
        }),
      );
    }
    rows.push(server_);

    const client = createClient({ baseUrl: url, credentials: { apiKey: adminKey }, timeoutMs: 60_000 });
    const clientSide: Row = {
      name: 'oneclaw client-side rotation (SDK, 16 in flight)',
      items: s.secrets,
      seconds: [],
    };
    clientSide.seconds.push(
      await timed('client-side rotation (one run)', async () => {
        const r = await client.cmek.rotateClientSide(vault.id, {
          oldKey: keys[s.runs] as Buffer,
          newKey: keys[s.runs + 1] as Buffer,
          concurrency: 16,
        });
        if (r.rotated !== s.secrets)
          throw new Error(`client-side rotation rotated ${r.rotated} of ${s.secrets}`);
      }),
    );
    rows.push(clientSide);

    // OpenBao transit: encrypt once, then rotate the key and rewrap everything, `runs` times.
    const bao = { 'x-vault-token': opts.bao.token };
    const key = `cmek-bench-${Date.now()}`;
    const transit = `${opts.bao.address}/v1/${opts.bao.transitMount}`;
    await call('POST', `${transit}/keys/${key}`, bao, { type: 'aes256-gcm96' });
    const batches = Math.ceil(s.secrets / 100);
    let ciphertexts: string[] = new Array(s.secrets);
    await parallel(batches, 4, async (b) => {
      const items = Array.from({ length: Math.min(100, s.secrets - b * 100) }, (_, j) => ({
        plaintext: Buffer.from(value(b * 100 + j)).toString('base64'),
      }));
      const res = await call<{ data: { batch_results: Array<{ ciphertext: string }> } }>(
        'POST',
        `${transit}/encrypt/${key}`,
        bao,
        { batch_input: items },
      );
      res.data.batch_results.forEach((r, j) => {
        ciphertexts[b * 100 + j] = r.ciphertext;
      });
    });
    const rewrap: Row = {
      name: 'OpenBao transit rewrap (100 per request, 4 in flight)',
      items: s.secrets,
      seconds: [],
    };
    for (let r = 0; r < s.runs; r++) {
      await call('POST', `${transit}/keys/${key}/rotate`, bao, {});
      const next: string[] = new Array(s.secrets);
      rewrap.seconds.push(
        await timed(`OpenBao rewrap ${r + 1}/${s.runs}`, () =>
          parallel(batches, 4, async (b) => {
            const res = await call<{ data: { batch_results: Array<{ ciphertext: string }> } }>(
              'POST',
              `${transit}/rewrap/${key}`,
              bao,
              { batch_input: ciphertexts.slice(b * 100, b * 100 + 100).map((c) => ({ ciphertext: c })) },
            );
            res.data.batch_results.forEach((x, j) => {
              next[b * 100 + j] = x.ciphertext;
            });
          }),
        ),
      );
      ciphertexts = next;
    }
    rows.push(rewrap);
    return { settings: s, rows };
  } finally {
    await server?.proc.stop();
    work.remove();
  }
}

export function renderCmekRotation(d: CmekRotationData): string {
  const base = d.rows.find((r) => r.name.startsWith('OpenBao'));
  const rate = (r: Row) => r.items / median(r.seconds);
  const lines = d.rows.map((r) => {
    const ratio = base ? `${(rate(r) / rate(base)).toPrecision(2)}×` : '';
    return `| ${r.name} | ${r.items.toLocaleString('en-US')} | ${r.seconds.length} | ${median(r.seconds).toFixed(1)} s | ${Math.round(rate(r)).toLocaleString('en-US')} | ${ratio} |`;
  });
  return [
    `## CMEK rotation of ${d.settings.secrets.toLocaleString('en-US')} secrets`,
    '',
    'Server-assisted: one request with both keys, then the API process re-encrypts every version in batches of 100, each batch one',
    'transaction with its progress (PostgreSQL with fsync on). Client-side: the SDK reads, decrypts, encrypts and writes a new',
    'version per secret. OpenBao transit rewrap is the peer: re-encryption under a rotated transit key, no storage of its own.',
    'Ratio column: secrets/s relative to OpenBao rewrap (higher is faster).',
    '',
    '| what | secrets | runs | median | secrets/s | vs OpenBao rewrap |',
    '|---|---:|---:|---:|---:|---:|',
    ...lines,
  ].join('\n');
}
