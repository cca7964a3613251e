// HTTP load on the API: the compiled `oneclaw server` in its own process on a PostgreSQL with
// fsync on, driven by autocannon from the bench process, side by side in the same run with two
// OpenBao peers: a durable one (raft storage, file audit device) and the dev-mode one (memory).
// A second server on the same database carries the two-replica row and the revocation probe.
// Settings (env): BENCH_DURATION_S (10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64),
// BENCH_SECRETS (2000), BENCH_VALUE_BYTES (256).
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeWorkDir } from '../test/support/peers/common.js';
import type { OpenBaoInfo } from '../test/support/peers/openbao.js';
import type { DurableOpenBaoInfo } from '../test/support/peers/openbao-durable.js';
import type { PostgresInfo } from '../test/support/peers/postgres.js';
import { type OneclawServer, startOneclaw } from '../test/support/server-process.js';
import {
  adminAuth,
  assertCompiled,
  assertDistCurrent,
  benchServerEnv,
  type CpuShare,
  call,
  cannon,
  envInt,
  groupOf,
  type LoadRun,
  logSummary,
  median,
  mergeSessions,
  type Op,
  type PgSessions,
  type ProcSet,
  parallel,
  postmasterPid,
  round1,
  samplePgSessions,
  setCpu,
} from './api-load-kit.js';
import { type ApiLoadData, type ApiLoadRow, durability, ROW } from './api-load-report.js';
import { createMember, grantMember, probeRevocation, type RevocationResult } from './api-revocation.js';
import { type SectionOptions, sectionLog } from './lib.js';

export {
  adminAuth,
  assertDistCurrent,
  benchServerEnv,
  CLK_TCK,
  type CpuShare,
  call,
  envInt,
  logSummary,
  type PgSessions,
  type ProcSet,
  parallel,
  postmasterPid,
  setCpu,
} from './api-load-kit.js';
export { type ApiLoadData, renderApiLoad } from './api-load-report.js';

export interface ApiLoadSettings {
  secrets: number;
  valueBytes: number;
  connections: number;
  durationS: number;
  rounds: number;
}

function apiLoadSettings(): ApiLoadSettings {
  return {
    secrets: envInt('BENCH_SECRETS', 2_000),
    valueBytes: envInt('BENCH_VALUE_BYTES', 256),
    connections: envInt('BENCH_CONNECTIONS', 64),
    durationS: envInt('BENCH_DURATION_S', 10),
    rounds: envInt('BENCH_ROUNDS', 3),
  };
}

interface Scenario {
  name: string;
  baselines: Record<string, string>;
  urls: string[];
  headers: Record<string, string>;
  op: Op;
  /** The server(s) under load, for CPU accounting. */
  servers: ProcSet[];
  oneclaw: boolean;
  /** The durable peer's audit file, asserted to grow during the run. */
  auditFile?: string;
}

const against = (durable: string, dev: string) => ({ 'raft+audit': durable, dev });

export async function runApiLoad(
  opts: {
    bao: OpenBaoInfo;
    durableBao: DurableOpenBaoInfo;
    postgres: PostgresInfo;
  } & SectionOptions<ApiLoadSettings>,
): Promise<ApiLoadData> {
  assertDistCurrent();
  const t0 = Date.now();
  const s = opts.settings ?? apiLoadSettings();
  const log = sectionLog('api-load', opts.log);
  const work = makeWorkDir('bench-api');
  const servers: OneclawServer[] = [];
  const prep: ApiLoadData['prep'] = {};
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    const out = await fn();
    const r = out as Partial<LoadRun> | undefined;
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
    // Replica B starts after A has bootstrapped and migrated the database.
    const a = await startOneclaw('oneclaw-a', env, work.dir);
    servers.push(a);
    const b = await startOneclaw('oneclaw-b', env, work.dir);
    servers.push(b);
    for (const srv of servers) assertCompiled(srv);
    // Both replicas verify the tokens of the one signing key.
    const admin = await adminAuth(a.url, adminKey);
    const vault = await call<{ id: string }>('POST', `${a.url}/v1/vaults`, admin, { name: 'bench' });

    const paths = Array.from({ length: s.secrets }, (_, i) => `svc-${Math.floor(i / 100)}/key-${i}`);
    const value = () => randomBytes(s.valueBytes).toString('base64url').slice(0, s.valueBytes);
    const secretPath = (i: number) => `/v1/vaults/${vault.id}/secrets/${paths[i % s.secrets]}`;
    const kvPath = (i: number) => `/v1/secret/data/${paths[i % s.secrets]}`;
    const dev = { 'x-vault-token': opts.bao.token };
    const durable = { 'x-vault-token': opts.durableBao.token };

    await timed(`fill oneclaw: ${s.secrets} PUTs, 16 in flight`, () =>
      parallel(s.secrets, 16, (i) =>
        call('PUT', `${a.url}${secretPath(i)}`, admin, { type: 'password', value: value() }),
      ),
    );
    for (const [label, peer, headers] of [
      ['OpenBao raft+audit', opts.durableBao, durable],
      ['OpenBao dev', opts.bao, dev],
    ] as const)
      await timed(`fill ${label} KV v2: ${s.secrets} writes, 16 in flight`, () =>
        parallel(s.secrets, 16, (i) =>
          call('PUT', `${peer.address}${kvPath(i)}`, headers, { data: { value: value() } }),
        ),
      );

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

    // One untimed pass over every path on each target, warming caches, PostgreSQL's buffers and
    // the JIT of every side.
    const warm = { connections: s.connections, amount: s.secrets };
    await timed('warm-up oneclaw A: GET every path', () => cannon([a.url], admin, getSecret, warm));
    await timed('warm-up oneclaw B: GET every path', () => cannon([b.url], admin, getSecret, warm));
    await timed('warm-up OpenBao raft+audit: GET every path', () =>
      cannon([opts.durableBao.address], durable, getKv, warm),
    );
    await timed('warm-up OpenBao dev: GET every path', () => cannon([opts.bao.address], dev, getKv, warm));

    const postmaster = await postmasterPid(databaseUrl);
    const postgres: ProcSet = postmaster === undefined ? undefined : { parent: postmaster };
    const pgrp = (needle: string): ProcSet => {
      const g = groupOf(needle);
      return g === undefined ? undefined : { pgrp: g };
    };
    const devProcs = pgrp(`-dev-listen-address=${opts.bao.address.replace('http://', '')}`);
    const durableProcs = pgrp(`-config=${opts.durableBao.configFile}`);
    const oc = (name: string, getOrPut: Op, urls: string[], sv: OneclawServer[], base: [string, string]) => ({
      name,
      baselines: against(...base),
      urls,
      headers: admin,
      op: getOrPut,
      servers: sv.map((x) => ({ pgrp: x.proc.pid })),
      oneclaw: true,
    });
    const bao = (
      name: string,
      peer: { address: string },
      headers: Record<string, string>,
      op: Op,
      procs: ProcSet,
    ) => ({
      name,
      baselines: name.includes('GET')
        ? against(ROW.durableGet, ROW.devGet)
        : against(ROW.durablePut, ROW.devPut),
      urls: [peer.address],
      headers,
      op,
      servers: [procs],
      oneclaw: false,
      ...(peer === opts.durableBao ? { auditFile: opts.durableBao.auditFile } : {}),
    });
    const scenarios: Scenario[] = [
      oc(ROW.get, getSecret, [a.url], [a], [ROW.durableGet, ROW.devGet]),
      bao(ROW.durableGet, opts.durableBao, durable, getKv, durableProcs),
      bao(ROW.devGet, opts.bao, dev, getKv, devProcs),
      oc(ROW.put, putSecret, [a.url], [a], [ROW.durablePut, ROW.devPut]),
      bao(ROW.durablePut, opts.durableBao, durable, putKv, durableProcs),
      bao(ROW.devPut, opts.bao, dev, putKv, devProcs),
      oc(ROW.twoReplicas, getSecret, [a.url, b.url], [a, b], [ROW.durableGet, ROW.devGet]),
    ];

    const member = await createMember(b.url, admin);
    const memberPath = secretPath(0);
    const revocation: RevocationResult[] = [];
    // Rounds interleave the scenarios so drift on a shared machine hits every row alike.
    const results = new Map<
      string,
      Array<{ r: LoadRun; cpu: CpuShare; sessions?: PgSessions; audit?: number }>
    >();
    for (let round = 1; round <= s.rounds; round++) {
      for (const sc of scenarios) {
        const replicas = sc.name === ROW.twoReplicas;
        const grantId = replicas ? await grantMember(a.url, b.url, admin, vault.id, memberPath, member) : '';
        await sleep(1_000);
        const sets = [...sc.servers, postgres];
        const before = setCpu(sets);
        const selfBefore = process.cpuUsage();
        const auditBefore = sc.auditFile ? statSync(sc.auditFile).size : 0;
        const sampler = sc.oneclaw ? await samplePgSessions(databaseUrl) : undefined;
        const load = cannon(sc.urls, sc.headers, sc.op, {
          connections: s.connections,
          durationS: s.durationS,
        });
        const probe = replicas
          ? probeRevocation({
              a: a.url,
              b: b.url,
              admin,
              vaultId: vault.id,
              grantId,
              path: memberPath,
              member,
              afterMs: (s.durationS * 1000) / 3,
            })
          : undefined;
        const [r, rev] = await Promise.all([load, probe]);
        const sessions = await sampler?.stop();
        const after = setCpu(sets);
        const self = process.cpuUsage(selfBefore);
        const pct = (sec: number) => Math.round((100 * sec) / r.duration_s);
        const delta = (i: number) => (after[i] ?? 0) - (before[i] ?? 0);
        const cpu: CpuShare = {
          loadgen: pct((self.user + self.system) / 1e6),
          server: pct(sc.servers.reduce((acc, _, i) => acc + delta(i), 0)),
          postgres: sc.oneclaw ? pct(delta(sc.servers.length)) : 0,
        };
        let audit: number | undefined;
        if (sc.auditFile) {
          const grown = statSync(sc.auditFile).size - auditBefore;
          if (grown <= 0 || r.ok === 0)
            throw new Error(`api-load: the durable OpenBao's audit file did not grow during "${sc.name}"`);
          audit = Math.round(grown / (r.ok + r.non2xx));
        }
        if (rev) revocation.push(rev);
        results.set(sc.name, [
          ...(results.get(sc.name) ?? []),
          { r, cpu, ...(sessions ? { sessions } : {}), ...(audit ? { audit } : {}) },
        ]);
        log(
          `round ${round}/${s.rounds} ${sc.name}: ${Math.round(r.ok / r.duration_s)} req/s, ` +
            `p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, non-2xx ${r.non2xx}, errors ${r.errors}, ` +
            `cpu % loadgen ${cpu.loadgen} server ${cpu.server} postgres ${cpu.postgres}` +
            (audit ? `, audit ${audit} B/request` : '') +
            (rev ? `, revocation ${JSON.stringify(rev)}` : '') +
            (sessions ? `, pg sessions busy ${sessions.busy_mean}: ${JSON.stringify(sessions.top)}` : ''),
        );
      }
    }

    const rows: ApiLoadRow[] = scenarios.map((sc) => {
      const runs = results.get(sc.name) ?? [];
      const statuses: Record<string, number> = {};
      for (const { r } of runs)
        for (const [code, n] of Object.entries(r.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
      const m = (f: (x: (typeof runs)[number]) => number) => median(runs.map(f));
      return {
        name: sc.name,
        baselines: sc.baselines,
        servers: sc.urls.length,
        connections: s.connections,
        duration_s: s.durationS,
        rounds: runs.length,
        req_per_s: Math.round(m(({ r }) => r.ok / r.duration_s)),
        p50_ms: m(({ r }) => r.p50_ms),
        p99_ms: m(({ r }) => r.p99_ms),
        p99_9_ms: m(({ r }) => r.p99_9_ms),
        errors: runs.reduce((acc, { r }) => acc + r.errors, 0),
        non2xx: runs.reduce((acc, { r }) => acc + r.non2xx, 0),
        statuses,
        cpu: {
          loadgen: m((x) => x.cpu.loadgen),
          server: m((x) => x.cpu.server),
          postgres: m((x) => x.cpu.postgres),
        },
        ...(sc.auditFile ? { audit_bytes_per_request: m((x) => x.audit ?? 0) } : {}),
        ...(runs.some((x) => x.sessions) ? { pg_sessions: mergeSessions(runs.map((x) => x.sessions)) } : {}),
      };
    });
    const serverLog: Record<string, number> = {};
    for (const srv of servers) logSummary(srv.proc.logFile, serverLog);
    return {
      settings: s,
      rows,
      revocation,
      durability: await durability(databaseUrl, opts.durableBao),
      prep,
      server_log: serverLog,
      wall_s: round1((Date.now() - t0) / 1000),
    };
  } finally {
    await Promise.allSettled(servers.map((srv) => srv.proc.stop()));
    work.remove();
  }
}
