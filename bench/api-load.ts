// HTTP load on the API: `bin/oneclaw server` in its own process on a PostgreSQL with fsync on,
// driven by autocannon from the bench process, side by side with OpenBao (KV v2 and transit) in
// the same run on the same machine. Settings (env): BENCH_DURATION_S (10), BENCH_ROUNDS (3),
// BENCH_CONNECTIONS (64), BENCH_SECRETS (10000), BENCH_VALUE_BYTES (256).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import pg from 'pg';
import { makeWorkDir } from '../test/support/peers/common.js';
import type { OpenBaoInfo } from '../test/support/peers/openbao.js';
import { createDatabase, type PostgresInfo } from '../test/support/peers/postgres.js';
import { type OneclawServer, serverEnv, startOneclaw } from '../test/support/server-process.js';
import { type LoadMeasurement, loadTable, type SectionOptions, sectionLog } from './lib.js';

export interface ApiLoadSettings {
  secrets: number;
  valueBytes: number;
  connections: number;
  durationS: number;
  rounds: number;
}

/** A whole-number setting from the environment, at least `min` (default 1). */
export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${raw}`);
  return n;
}

function apiLoadSettings(): ApiLoadSettings {
  return {
    secrets: envInt('BENCH_SECRETS', 10_000),
    valueBytes: envInt('BENCH_VALUE_BYTES', 256),
    connections: envInt('BENCH_CONNECTIONS', 64),
    durationS: envInt('BENCH_DURATION_S', 10),
    rounds: envInt('BENCH_ROUNDS', 3),
  };
}

/** CPU used during a run, in % of one core (100 = one core busy for the whole run). */
export interface CpuShare {
  loadgen: number;
  server: number;
  postgres: number;
}

/**
 * What the server's PostgreSQL sessions were doing during a run, from pg_stat_activity sampled
 * every 50 ms: the mean number of busy sessions and the share of samples per state.
 */
export interface PgSessions {
  busy_mean: number;
  /** "<wait event or running> · <statement>" or "idle in transaction · <last statement>" → % of samples. */
  top: Record<string, number>;
}

export interface ApiLoadData {
  settings: ApiLoadSettings;
  rows: Array<LoadMeasurement & { cpu?: CpuShare; pg_sessions?: PgSessions }>;
  /** Untimed preparation: filling the stores and the warm-up passes. */
  prep: Record<string, { seconds: number; non2xx: number; errors: number }>;
  /** Lines at warn level or above in the oneclaw servers' logs, by message. */
  server_log: Record<string, number>;
  wall_s: number;
}

// ── processes and CPU accounting ──

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  ticks: number;
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/**
 * A set of processes to account CPU to: a process group (oneclaw, OpenBao), or a process and its
 * children (PostgreSQL: each backend calls setsid(), so it is its own group).
 */
export type ProcSet = { pgrp: number } | { parent: number } | undefined;

const member = (set: ProcSet, st: ProcStat) =>
  set !== undefined &&
  ('pgrp' in set ? st.pgrp === set.pgrp : st.pid === set.parent || st.ppid === set.parent);

/** CPU seconds used so far by the live processes of each set. */
export function setCpu(sets: ProcSet[]): number[] {
  const sums = sets.map(() => 0);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (!st) continue;
    sets.forEach((set, i) => {
      if (member(set, st)) sums[i] = (sums[i] ?? 0) + st.ticks / CLK_TCK;
    });
  }
  return sums;
}

/** The process group of the process whose command line contains `needle`. */
function groupOf(needle: string): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) return procStat(Number(name))?.pgrp;
    } catch {
      // gone
    }
  }
  return undefined;
}

export async function postmasterPid(url: string): Promise<number | undefined> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const backend = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    return backend === undefined ? undefined : procStat(backend)?.ppid;
  } finally {
    await c.end();
  }
}

/** Samples pg_stat_activity of the oneclaw sessions until `stop()`. */
async function samplePgSessions(url: string): Promise<{ stop(): Promise<PgSessions> }> {
  const c = new pg.Client({ connectionString: url, application_name: 'bench-sampler' });
  await c.connect();
  const tally = new Map<string, number>();
  let ticks = 0;
  let busy = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await c.query<{ state: string; wait: string | null; q: string }>(
        `SELECT state, wait_event_type || ':' || wait_event AS wait, left(regexp_replace(query, '\\s+', ' ', 'g'), 48) AS q
           FROM pg_stat_activity
          WHERE application_name = 'oneclaw' AND datname = current_database()
            AND state IN ('active', 'idle in transaction')`,
      );
      ticks++;
      for (const r of rows) {
        busy++;
        const key =
          r.state === 'active' ? `${r.wait ?? 'running'} · ${r.q}` : `idle in transaction · after ${r.q}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
      }
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop.catch(() => {});
      await c.end().catch(() => {});
      const top = [...tally.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([k, n]) => [k, Math.round((100 * n) / Math.max(busy, 1))] as const);
      return { busy_mean: round1(busy / Math.max(ticks, 1)), top: Object.fromEntries(top) };
    },
  };
}

/** Counts warn-and-above pino lines of a server log by message. */
export function logSummary(file: string, into: Record<string, number>): void {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let key: string;
    try {
      const rec = JSON.parse(line) as { level?: number; msg?: string; err?: string | { message?: string } };
      if ((rec.level ?? 0) < 40) continue;
      const detail = typeof rec.err === 'string' ? rec.err : rec.err?.message;
      key = `${rec.level === 40 ? 'warn' : 'error'}: ${rec.msg ?? ''}${detail ? ` (${detail})` : ''}`;
    } catch {
      key = `stderr: ${line.slice(0, 160)}`;
    }
    into[key] = (into[key] ?? 0) + 1;
  }
}

// ── HTTP helpers ──

export async function call<T>(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * A fresh database on the shared PostgreSQL and the environment of a production server on it,
 * with the local KMS key every benchmark uses and `extra` on top.
 */
export async function benchServerEnv(
  postgres: PostgresInfo,
  database: string,
  dir: string,
  extra: Record<string, string> = {},
): Promise<{ databaseUrl: string; env: Record<string, string>; adminKey: string }> {
  const db = await createDatabase(postgres, database);
  return { databaseUrl: db.url, ...serverEnv(dir, db.url, { ONECLAW_KMS_KEY: 'local://bench', ...extra }) };
}

/** The Authorization header of an admin token exchanged for `adminKey` at the server at `url`. */
export async function adminAuth(url: string, adminKey: string): Promise<{ authorization: string }> {
  const t = await call<{ access_token: string }>('POST', `${url}/v1/auth/token`, {}, { api_key: adminKey });
  return { authorization: `Bearer ${t.access_token}` };
}

/** Runs op(0..n-1) with `concurrency` in flight. */
export async function parallel(
  n: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) await op(i);
    }),
  );
}

type Method = 'GET' | 'PUT' | 'POST';
type Op = (i: number) => { method: Method; path: string; body?: string };

/**
 * One autocannon run from this process (the servers run in their own processes). Requests are
 * spread round-robin over the paths by a counter shared by all connections.
 */
function cannon(
  url: string,
  headers: Record<string, string>,
  op: Op,
  run: { connections: number; durationS?: number; amount?: number },
): Promise<autocannon.Result> {
  let i = 0;
  return autocannon({
    url,
    connections: run.connections,
    ...(run.amount ? { amount: run.amount } : { duration: run.durationS ?? 10 }),
    headers,
    requests: [
      {
        setupRequest: (req) => {
          const r = op(i++);
          return {
            ...req,
            method: r.method,
            path: r.path,
            ...(r.body === undefined
              ? {}
              : { body: r.body, headers: { ...req.headers, 'content-type': 'application/json' } }),
          };
        },
      },
    ],
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const round1 = (n: number) => Math.round(n * 10) / 10;

// ── the benchmark ──

interface Scenario {
  name: string;
  baseline?: string;
  url: string;
  headers: Record<string, string>;
  op: Op;
  /** The server under load, for CPU accounting. */
  server: ProcSet;
}

export async function runApiLoad(
  opts: { bao: OpenBaoInfo; postgres: PostgresInfo } & SectionOptions<ApiLoadSettings>,
): Promise<ApiLoadData> {
  const t0 = Date.now();
  const s = opts.settings ?? apiLoadSettings();
  const log = sectionLog('api-load', opts.log);
  const work = makeWorkDir('bench-api');
  const servers: OneclawServer[] = [];
  const prep: ApiLoadData['prep'] = {};
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    const out = await fn();
    const r = out as Partial<autocannon.Result> | undefined;
    prep[what] = {
      seconds: round1((Date.now() - start) / 1000),
      non2xx: r?.non2xx ?? 0,
      errors: r?.errors ?? 0,
    };
    log(
      `${what}: ${prep[what]?.seconds} s${r?.non2xx || r?.errors ? ` (non-2xx ${r.non2xx}, errors ${r.errors})` : ''}`,
    );
    return out;
  };
  try {
    const { databaseUrl, env, adminKey } = await benchServerEnv(opts.postgres, 'bench', work.dir, {
      ONECLAW_TOKEN_TTL_SECONDS: '3600',
      // One admin principal drives the whole load: the per-principal request limit (1000/s for
      // admins by default) would measure the limit, not the server.
      ONECLAW_ADMIN_RATE_LIMIT: '0',
    });

    // Two servers on the same database and keys; only the one under load is busy. The second
    // starts after the first has bootstrapped and migrated.
    const on = await startOneclaw('oneclaw-cache-on', env, work.dir);
    servers.push(on);
    const off = await startOneclaw(
      'oneclaw-cache-off',
      { ...env, ONECLAW_TOKEN_CACHE_MAX_ENTRIES: '0' },
      work.dir,
    );
    servers.push(off);
    const onAuth = await adminAuth(on.url, adminKey);
    const offAuth = await adminAuth(off.url, adminKey);
    const vault = await call<{ id: string }>('POST', `${on.url}/v1/vaults`, onAuth, { name: 'bench' });

    const paths = Array.from({ length: s.secrets }, (_, i) => `svc-${Math.floor(i / 100)}/key-${i}`);
    const value = () => randomBytes(s.valueBytes).toString('base64url').slice(0, s.valueBytes);
    const secretPath = (i: number) => `/v1/vaults/${vault.id}/secrets/${paths[i % s.secrets]}`;
    const kvPath = (i: number) => `/v1/secret/data/${paths[i % s.secrets]}`;
    const bao = { 'x-vault-token': opts.bao.token };

    await timed(`fill oneclaw: ${s.secrets} PUTs, 16 in flight`, () =>
      parallel(s.secrets, 16, (i) =>
        call('PUT', `${on.url}${secretPath(i)}`, onAuth, { type: 'password', value: value() }),
      ),
    );
    await timed(`fill OpenBao KV v2: ${s.secrets} writes, 16 in flight`, () =>
      parallel(s.secrets, 16, (i) =>
        call('PUT', `${opts.bao.address}${kvPath(i)}`, bao, { data: { value: value() } }),
      ),
    );
    await call('POST', `${opts.bao.address}/v1/${opts.bao.transitMount}/keys/bench-load`, bao, {
      type: 'aes256-gcm96',
    });

    const getSecret: Op = (i) => ({ method: 'GET', path: secretPath(i) });
    const putSecret: Op = (i) => ({
      method: 'PUT',
      path: secretPath(i),
      body: JSON.stringify({ type: 'password', value: value() }),
    });
    const getKv: Op = (i) => ({ method: 'GET', path: kvPath(i) });
    const putKv: Op = (i) => ({
      method: 'PUT',
      path: kvPath(i),
      body: JSON.stringify({ data: { value: value() } }),
    });
    const transitEncrypt: Op = () => ({
      method: 'POST',
      path: `/v1/${opts.bao.transitMount}/encrypt/bench-load`,
      body: JSON.stringify({ plaintext: randomBytes(s.valueBytes).toString('base64') }),
    });

    // One untimed pass over every path, warming the KEK cache, the token cache, PostgreSQL's
    // buffers and the JIT of both sides.
    const warm = { connections: s.connections, amount: s.secrets };
    await timed('warm-up oneclaw (cache on): GET every path', () => cannon(on.url, onAuth, getSecret, warm));
    await timed('warm-up oneclaw (cache off): GET every path', () =>
      cannon(off.url, offAuth, getSecret, warm),
    );
    await timed('warm-up OpenBao KV v2: GET every path', () => cannon(opts.bao.address, bao, getKv, warm));

    const postmaster = await postmasterPid(databaseUrl);
    const postgres: ProcSet = postmaster === undefined ? undefined : { parent: postmaster };
    const baoPgrp = groupOf(`-dev-listen-address=${opts.bao.address.replace('http://', '')}`);
    const baoProcs: ProcSet = baoPgrp === undefined ? undefined : { pgrp: baoPgrp };
    const baoKvGet = 'OpenBao KV v2 GET';
    const baoKvPut = 'OpenBao KV v2 PUT';
    const scenarios: Scenario[] = [
      {
        name: 'oneclaw GET, token cache on',
        baseline: baoKvGet,
        url: on.url,
        headers: onAuth,
        op: getSecret,
        server: { pgrp: on.proc.pid },
      },
      {
        name: 'oneclaw GET, token cache off',
        baseline: baoKvGet,
        url: off.url,
        headers: offAuth,
        op: getSecret,
        server: { pgrp: off.proc.pid },
      },
      {
        name: baoKvGet,
        baseline: baoKvGet,
        url: opts.bao.address,
        headers: bao,
        op: getKv,
        server: baoProcs,
      },
      {
        name: 'oneclaw PUT',
        baseline: baoKvPut,
        url: on.url,
        headers: onAuth,
        op: putSecret,
        server: { pgrp: on.proc.pid },
      },
      {
        name: baoKvPut,
        baseline: baoKvPut,
        url: opts.bao.address,
        headers: bao,
        op: putKv,
        server: baoProcs,
      },
      {
        name: `OpenBao transit encrypt ${s.valueBytes} B (reference)`,
        url: opts.bao.address,
        headers: bao,
        op: transitEncrypt,
        server: baoProcs,
      },
    ];

    // Rounds interleave the scenarios so drift on a shared machine hits every row alike.
    const results = new Map<
      string,
      Array<{ r: autocannon.Result; cpu: CpuShare; sessions: PgSessions | undefined }>
    >();
    for (let round = 1; round <= s.rounds; round++) {
      for (const sc of scenarios) {
        await sleep(1_000);
        const sets = [sc.server, postgres];
        const before = setCpu(sets);
        const selfBefore = process.cpuUsage();
        const sampler = sc.name.startsWith('oneclaw') ? await samplePgSessions(databaseUrl) : undefined;
        const r = await cannon(sc.url, sc.headers, sc.op, {
          connections: s.connections,
          durationS: s.durationS,
        });
        const sessions = await sampler?.stop();
        const after = setCpu(sets);
        const self = process.cpuUsage(selfBefore);
        const pct = (sec: number) => Math.round((100 * sec) / r.duration);
        const cpu: CpuShare = {
          loadgen: pct((self.user + self.system) / 1e6),
          server: pct((after[0] ?? 0) - (before[0] ?? 0)),
          postgres: sc.name.startsWith('oneclaw') ? pct((after[1] ?? 0) - (before[1] ?? 0)) : 0,
        };
        results.set(sc.name, [...(results.get(sc.name) ?? []), { r, cpu, sessions }]);
        log(
          `round ${round}/${s.rounds} ${sc.name}: ${Math.round(r['2xx'] / r.duration)} req/s, ` +
            `p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}, ` +
            `cpu % loadgen ${cpu.loadgen} server ${cpu.server} postgres ${cpu.postgres}` +
            (sessions ? `, pg sessions busy ${sessions.busy_mean}: ${JSON.stringify(sessions.top)}` : ''),
        );
      }
    }

    const rows = scenarios.map((sc) => {
      const runs = results.get(sc.name) ?? [];
      const statuses: Record<string, number> = {};
      for (const { r } of runs)
        for (const [code, v] of Object.entries(r.statusCodeStats ?? {}))
          statuses[code] = (statuses[code] ?? 0) + (v.count ?? 0);
      return {
        name: sc.name,
        ...(sc.baseline ? { baseline: sc.baseline } : {}),
        connections: s.connections,
        duration_s: s.durationS,
        rounds: runs.length,
        req_per_s: Math.round(median(runs.map(({ r }) => r['2xx'] / r.duration))),
        p50_ms: median(runs.map(({ r }) => r.latency.p50)),
        p99_ms: median(runs.map(({ r }) => r.latency.p99)),
        p99_9_ms: median(runs.map(({ r }) => r.latency.p99_9)),
        errors: runs.reduce((a, { r }) => a + r.errors, 0),
        non2xx: runs.reduce((a, { r }) => a + r.non2xx, 0),
        statuses,
        cpu: {
          loadgen: median(runs.map(({ cpu }) => cpu.loadgen)),
          server: median(runs.map(({ cpu }) => cpu.server)),
          postgres: median(runs.map(({ cpu }) => cpu.postgres)),
        },
        ...(runs.some(({ sessions }) => sessions)
          ? { pg_sessions: mergeSessions(runs.map((x) => x.sessions)) }
          : {}),
      };
    });
    const serverLog: Record<string, number> = {};
    for (const srv of servers) logSummary(srv.proc.logFile, serverLog);
    return { settings: s, rows, prep, server_log: serverLog, wall_s: round1((Date.now() - t0) / 1000) };
  } finally {
    await Promise.allSettled(servers.map((srv) => srv.proc.stop()));
    work.remove();
  }
}

/** Pools the rounds' samples: mean of the busy means, mean share per key (top 4). */
function mergeSessions(all: Array<PgSessions | undefined>): PgSessions {
  const xs = all.filter((x): x is PgSessions => x !== undefined);
  const shares = new Map<string, number>();
  for (const x of xs)
    for (const [k, v] of Object.entries(x.top)) shares.set(k, (shares.get(k) ?? 0) + v / xs.length);
  const top = [...shares.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4);
  return {
    busy_mean: round1(xs.reduce((a, x) => a + x.busy_mean, 0) / Math.max(xs.length, 1)),
    top: Object.fromEntries(top.map(([k, v]) => [k, Math.round(v)])),
  };
}

/** The report section (markdown) for the data `runApiLoad` returned. */
export function renderApiLoad(d: ApiLoadData): string {
  const s = d.settings;
  const cpuRows = d.rows
    .filter((r) => r.cpu)
    .map((r) => {
      const c = r.cpu as CpuShare;
      const oc = r.name.startsWith('oneclaw');
      return `| ${r.name} | ${c.loadgen} | ${c.server} | ${oc ? c.postgres : '—'} | ${c.loadgen + c.server + (oc ? c.postgres : 0)} |`;
    });
  const md = (t: string) => `\`${t.replaceAll('`', "'").replaceAll('|', '\\|')}\``;
  const sessionRows = d.rows
    .filter((r) => r.pg_sessions)
    .map((r) => {
      const p = r.pg_sessions as PgSessions;
      const top = Object.entries(p.top).map(([k, v]) => `${v} % ${md(k)}`);
      return `| ${r.name} | ${p.busy_mean} | ${top.join('<br>')} |`;
    });
  const prep = Object.entries(d.prep).map(
    ([what, p]) =>
      `- ${what}: ${p.seconds} s${p.non2xx || p.errors ? `, non-2xx ${p.non2xx}, errors ${p.errors}` : ''}`,
  );
  const logLines = Object.entries(d.server_log).sort((a, b) => b[1] - a[1]);
  return [
    '## HTTP API under load vs OpenBao (same machine, same run)',
    '',
    `\`bin/oneclaw server\` (production profile, local KMS, log level warn) runs in its own process on ` +
      `PostgreSQL 15 with **fsync on**; autocannon 8 drives it from the bench process with ` +
      `${s.connections} keep-alive connections over loopback. ${s.secrets} secrets of ${s.valueBytes} B ` +
      `(random) in one vault; requests are spread round-robin over all ${s.secrets} paths. GET reads the ` +
      'latest version; PUT writes a new version of an existing path. The peer is `bao server -dev` ' +
      '(OpenBao, KV v2 at `secret/`, root token) with the same paths, values, connections and duration. ' +
      `Each row is the median of ${s.rounds} round(s) of ${s.durationS} s, the scenarios interleaved ` +
      'round by round, after one untimed warm-up pass that GETs every path once. "token cache off" is a ' +
      'second server on the same database with `ONECLAW_TOKEN_CACHE_MAX_ENTRIES=0`.',
    '',
    '**Caveats.** The machine has 2 cores: the server, PostgreSQL (or OpenBao) and the load generator ' +
      'share them (the CPU table says who used what; a total near 200 % means the box, not the server ' +
      'design, set the limit), and other work on the machine adds noise between rounds. OpenBao dev mode keeps its storage **in memory** (no disk, no fsync), ' +
      'while every oneclaw request commits to PostgreSQL with fsync on (a GET too: reads are audited in ' +
      "the read's transaction), so the PUT and GET ratios favour the peer by construction. Latency " +
      "percentiles are autocannon's, of 2xx responses only, at 1 ms resolution; errors are connection " +
      'errors and timeouts; both counts are summed over the rounds.',
    '',
    'Ratio columns: req/s and p99 relative to the OpenBao row doing the same operation (req/s: higher ' +
      'is better; p99: lower is better).',
    '',
    loadTable(d.rows),
    '',
    'CPU during the timed runs (% of one core, median of the rounds; the machine has 200 %). "server" is ' +
      'the oneclaw process (or OpenBao), "postgres" all PostgreSQL processes.',
    '',
    '| benchmark | load generator | server | postgres | total |',
    '|---|---:|---:|---:|---:|',
    ...cpuRows,
    '',
    "What oneclaw's PostgreSQL sessions were doing during the timed runs (`pg_stat_activity` every " +
      '50 ms, sessions that are active or idle in a transaction; share of those samples, mean over the ' +
      'rounds). "idle in transaction" is a session holding its transaction open while it waits for the ' +
      'server process to send the next statement.',
    '',
    '| benchmark | busy sessions (mean) | top states · statement |',
    '|---|---:|---|',
    ...sessionRows,
    '',
    `Untimed preparation (the whole section, timed runs included, took ${d.wall_s} s):`,
    '',
    ...prep,
    '',
    logLines.length
      ? `oneclaw server log lines at warn or above: ${logLines
          .slice(0, 8)
          .map(([k, n]) => `${md(k.slice(0, 200))} × ${n}`)
          .join('; ')}`
      : 'oneclaw server logs: no lines at warn or above.',
  ].join('\n');
}
