// The kit the HTTP load benchmarks share: the check that the server under load is the compiled
// build, CPU accounting from /proc, PostgreSQL session sampling, server log summaries, and small
// HTTP helpers around fetch and autocannon.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import pg from 'pg';
import { createDatabase, type PostgresInfo } from '../test/support/peers/postgres.js';
import { type OneclawServer, serverEnv } from '../test/support/server-process.js';
import { repoRoot } from '../test/support/tools.js';

/**
 * The bench measures the server as production runs it, the compiled JavaScript; `bin/oneclaw`
 * falls back to TypeScript through tsx whenever dist/ is older than the sources.
 */
export function assertDistCurrent(root = repoRoot): void {
  try {
    execFileSync('bash', ['-c', 'source "$0/hack/dist-current.sh" && dist_current "$1"', repoRoot, root], {
      stdio: 'ignore',
    });
  } catch {
    throw new Error(
      'api-load: dist/ is not a build of the current sources, so `bin/oneclaw server` would run the ' +
        'TypeScript through tsx; run `make build` (or `npm run build`) first, or use `make bench`, which builds',
    );
  }
}

export function assertCompiled(server: OneclawServer): void {
  const cmdline = readFileSync(`/proc/${server.proc.pid}/cmdline`, 'utf8');
  if (!cmdline.includes('dist/cli/src/main.js'))
    throw new Error(
      `api-load: ${server.name} does not run dist/ (a source changed after the build?): ${cmdline}`,
    );
}

/** A whole-number setting from the environment, at least `min` (default 1). */
export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${raw}`);
  return n;
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
export function groupOf(needle: string): number | undefined {
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
export async function samplePgSessions(url: string): Promise<{ stop(): Promise<PgSessions> }> {
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
export type Op = (i: number) => { method: Method; path: string; body?: string };

/** What a timed run measured, from one autocannon instance or several summed. */
export interface LoadRun {
  ok: number;
  duration_s: number;
  p50_ms: number;
  p99_ms: number;
  p99_9_ms: number;
  errors: number;
  non2xx: number;
  statuses: Record<string, number>;
}

/**
 * Load from this process (the servers run in their own processes) on each of `urls` at once,
 * the connections split evenly between them. Requests are spread round-robin over the paths by
 * one counter shared by all connections. Several targets sum their counts; their percentiles are
 * the worst target's (autocannon's histograms cannot be merged).
 */
export async function cannon(
  urls: string[],
  headers: Record<string, string>,
  op: Op,
  run: { connections: number; durationS?: number; amount?: number },
): Promise<LoadRun> {
  let i = 0;
  const per = Math.max(1, Math.floor(run.connections / urls.length));
  const results = await Promise.all(
    urls.map((url) =>
      autocannon({
        url,
        connections: per,
        ...(run.amount ? { amount: Math.ceil(run.amount / urls.length) } : { duration: run.durationS ?? 10 }),
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
      }),
    ),
  );
  const statuses: Record<string, number> = {};
  for (const r of results)
    for (const [code, v] of Object.entries(r.statusCodeStats ?? {}))
      statuses[code] = (statuses[code] ?? 0) + (v.count ?? 0);
  const worst = (f: (r: autocannon.Result) => number) => Math.max(...results.map(f));
  return {
    ok: results.reduce((a, r) => a + r['2xx'], 0),
    duration_s: worst((r) => r.duration),
    p50_ms: worst((r) => r.latency.p50),
    p99_ms: worst((r) => r.latency.p99),
    p99_9_ms: worst((r) => r.latency.p99_9),
    errors: results.reduce((a, r) => a + r.errors, 0),
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
    statuses,
  };
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
export const round1 = (n: number) => Math.round(n * 10) / 10;

/** Pools the rounds' samples: mean of the busy means, mean share per key (top 4). */
export function mergeSessions(all: Array<PgSessions | undefined>): PgSessions {
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
