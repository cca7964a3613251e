// The operator at scale: the compiled operator (`node dist/cli/src/main.js operator`, as the
// image runs it) in its own process, watching every namespace, against a private control plane
// (test/support/peers/kube.ts) and `bin/oneclaw server` in its own process (Kubernetes
// tokenreview auth, the operator's service account an org admin) on a PostgreSQL with fsync on.
// Measures how long BENCH_SYNCS SecretSyncs take to converge (operator already running; operator
// started over them, without and with BENCH_UNRELATED unrelated Secrets in the cluster), what the
// apiserver counted as written meanwhile (its own apiserver_request_total), what a restart over
// converged SecretSyncs writes (nothing, is the aim), how long an API write takes to reach its
// Kubernetes Secret (isolated writes, then BENCH_UPDATES writes at BENCH_UPDATE_RATE per second),
// and the operator's RSS idle and at steady state. There is no peer operator to run side by side
// (External Secrets Operator needs Go builds and a real provider); RSS ratios are against the
// idle operator. dist/ must be a build of the current sources (`make bench` builds first).
// Settings (env): BENCH_SYNCS (5000), BENCH_SYNC_NAMESPACES (50), BENCH_SERVICE_ACCOUNTS (50),
// BENCH_UPDATES (200), BENCH_UPDATE_RATE (10), BENCH_ISOLATED_UPDATES (5), BENCH_UNRELATED
// (20000), BENCH_RSS_SECONDS (10).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, type V1Secret } from '@kubernetes/client-node';
import {
  API_VERSION,
  type OneclawVault,
  PLURAL_SYNCS,
  PLURAL_VAULTS,
  type SecretSync,
  SYNC_LABEL,
} from '../operator/src/apis/v1alpha1/types.js';
import {
  type KubeRequest,
  kubeRequest,
  kubeWatch,
  statusCodeOf,
} from '../operator/src/runtime/kube-request.js';
import { installCrds } from '../test/support/crds.js';
import { httpOk, makeWorkDir } from '../test/support/peers/common.js';
import type { KubeInfo } from '../test/support/peers/kube.js';
import type { PostgresInfo } from '../test/support/peers/postgres.js';
import { freePort } from '../test/support/ports.js';
import { type ManagedProcess, spawnManaged, waitFor } from '../test/support/proc.js';
import { inheritedEnv, type OneclawServer, startOneclaw } from '../test/support/server-process.js';
import { repoRoot } from '../test/support/tools.js';
import {
  adminAuth,
  benchServerEnv,
  CLK_TCK,
  call,
  envInt,
  logSummary,
  type ProcSet,
  parallel,
  postmasterPid,
  setCpu,
} from './api-load.js';
import { assertDistCurrent } from './api-load-kit.js';
import { type ApiserverRequests, apiserverRequests, writesBetween } from './apiserver-writes.js';
import { type SectionOptions, sectionLog } from './lib.js';
import type {
  ConvergenceRow,
  CpuWindow,
  MemoryRow,
  OperatorScaleData,
  OperatorScaleSettings,
  PropagationRow,
  ReconcileCounts,
  RestartRow,
} from './operator-scale-report.js';

export { type OperatorScaleData, renderOperatorScale } from './operator-scale-report.js';

function operatorScaleSettings(): OperatorScaleSettings {
  return {
    syncs: envInt('BENCH_SYNCS', 5000),
    namespaces: envInt('BENCH_SYNC_NAMESPACES', 50),
    serviceAccounts: envInt('BENCH_SERVICE_ACCOUNTS', 50),
    updates: envInt('BENCH_UPDATES', 200),
    updateRate: envInt('BENCH_UPDATE_RATE', 10),
    isolatedUpdates: envInt('BENCH_ISOLATED_UPDATES', 5, 0),
    unrelated: envInt('BENCH_UNRELATED', 20_000, 0),
    rssSeconds: envInt('BENCH_RSS_SECONDS', 10),
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;
const OPERATOR_NS = 'oneclaw-system';
const OPERATOR_SA = 'oneclaw-operator';
const UNRELATED_NS = 'bench-unrelated';

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i] as number;
}

// ── Prometheus text ──

type Scrape = Map<string, number>;

const metricKey = (name: string, labels: Record<string, string> = {}) =>
  `${name}|${Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;

async function scrape(metricsUrl: string): Promise<Scrape> {
  const res = await fetch(`${metricsUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    out.set(metricKey(m[1] as string, labels), Number(m[3]));
  }
  return out;
}

const metric = (s: Scrape, name: string, labels?: Record<string, string>) =>
  s.get(metricKey(name, labels)) ?? 0;

const reconciles = (s: Scrape): ReconcileCounts => {
  const r = (result: string) =>
    metric(s, 'oneclaw_operator_reconcile_total', { controller: 'secretsync', result });
  return { success: r('success'), error: r('error'), terminal: r('terminal') };
};

const reconcileDelta = (a: Scrape, b: Scrape): ReconcileCounts => {
  const x = reconciles(a);
  const y = reconciles(b);
  const d = (name: string) =>
    metric(b, `oneclaw_operator_reconcile_duration_seconds_${name}`, { controller: 'secretsync' }) -
    metric(a, `oneclaw_operator_reconcile_duration_seconds_${name}`, { controller: 'secretsync' });
  const count = d('count');
  return {
    success: y.success - x.success,
    error: y.error - x.error,
    terminal: y.terminal - x.terminal,
    ...(count > 0 ? { mean_ms: round1((1000 * d('sum')) / count) } : {}),
  };
};

const histogram = (s: Scrape) => ({
  count: metric(s, 'oneclaw_operator_sync_propagation_seconds_count'),
  sum_s: metric(s, 'oneclaw_operator_sync_propagation_seconds_sum'),
});

// ── processes ──

/** VmRSS of a process in KiB, or undefined once it is gone. */
function rssKib(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

interface OperatorProc {
  name: string;
  proc: ManagedProcess;
  /** Where SIGUSR2 makes it write a heap snapshot. */
  heapDir: string;
  metricsUrl: string;
  spawnedAt: number;
  /** RSS samples (every 250 ms) over the process's life. */
  rss: Array<{ t: number; kib: number }>;
  /** When its first heap snapshot was asked for (the snapshot itself costs memory). */
  snapshotAt?: number;
  stop(): Promise<{ exitCode: number | null; stopMs: number }>;
}

/** NODE_OPTIONS as the chart's operator Deployment sets them. */
function chartNodeOptions(): string[] {
  const template = readFileSync(join(repoRoot, 'charts/oneclaw/templates/operator-deployment.yaml'), 'utf8');
  const m = /- name: NODE_OPTIONS\s+value: "([^"]*)"/.exec(template);
  if (!m) throw new Error('charts/oneclaw/templates/operator-deployment.yaml sets no NODE_OPTIONS');
  return (m[1] as string).split(/\s+/).filter(Boolean);
}

async function startOperatorProc(
  name: string,
  env: Record<string, string>,
  logDir: string,
): Promise<OperatorProc> {
  const port = await freePort();
  const inherited = inheritedEnv();
  const heapDir = join(logDir, `heap-${name}`);
  mkdirSync(heapDir, { recursive: true });
  // Not the bench's own loader (tsx): the operator runs the compiled JavaScript with the Node
  // options its Deployment sets, as the image does.
  const nodeOptions = [
    ...(inherited.NODE_OPTIONS ?? '').split(/\s+/).filter((o) => o && !o.includes('tsx')),
    ...chartNodeOptions(),
    '--heapsnapshot-signal=SIGUSR2',
    `--diagnostic-dir=${heapDir}`,
  ];
  const spawnedAt = Date.now();
  // dist/ itself rather than bin/oneclaw, which falls back to tsx as soon as a source is edited.
  const proc = spawnManaged({
    name,
    command: process.execPath,
    args: [join(repoRoot, 'dist/cli/src/main.js'), 'operator'],
    logFile: join(logDir, `${name}.log`),
    cwd: repoRoot,
    env: {
      ...inherited,
      ...env,
      NODE_OPTIONS: nodeOptions.join(' '),
      ONECLAW_OPERATOR_METRICS_LISTEN: `127.0.0.1:${port}`,
    },
  });
  const rss: OperatorProc['rss'] = [];
  const timer = setInterval(() => {
    const kib = rssKib(proc.pid);
    if (kib !== undefined) rss.push({ t: Date.now(), kib });
  }, 250);
  const metricsUrl = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${name} metrics on ${metricsUrl}`, () => httpOk(`${metricsUrl}/healthz`), {
      process: proc,
      timeoutMs: 90_000,
    });
  } catch (err) {
    clearInterval(timer);
    await proc.stop();
    throw err;
  }
  return {
    name,
    proc,
    heapDir,
    metricsUrl,
    spawnedAt,
    rss,
    async stop() {
      const t = Date.now();
      // Graceful stop drains in-flight reconciles and releases the Lease; give it the time it asks for.
      await proc.stop('SIGTERM', 35_000);
      clearInterval(timer);
      return { exitCode: await proc.exited, stopMs: Date.now() - t };
    },
  };
}

/** Epoch ms of the first log line with this message (pino `time`), waiting for it. */
async function logTime(op: OperatorProc, msg: string, timeoutMs = 120_000): Promise<number> {
  return waitFor(
    `${op.name}: log line "${msg}"`,
    async () => {
      let text = '';
      try {
        text = readFileSync(op.proc.logFile, 'utf8');
      } catch {
        return undefined;
      }
      for (const line of text.split('\n')) {
        if (!line.includes(msg)) continue;
        try {
          const rec = JSON.parse(line) as { msg?: string; time?: number };
          if (rec.msg === msg && typeof rec.time === 'number') return rec.time;
        } catch {
          // not a log record
        }
      }
      return undefined;
    },
    { process: op.proc, timeoutMs, intervalMs: 200 },
  );
}

/**
 * Refreshes spread over the interval keep a trickle of reconciles going (5,000 syncs at 1 h: about
 * 1.4 a second), so idle means: nothing queued, and at most a few reconciles a second, for 3 s.
 */
const IDLE_RECONCILES_PER_S = 5;

/** Waits until the secretsync controller is idle (see above). */
async function quiescent(op: OperatorProc, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let stable = 0;
  while (Date.now() < deadline) {
    const s = await scrape(op.metricsUrl);
    const r = reconciles(s);
    const total = r.success + r.error + r.terminal;
    const depth = metric(s, 'oneclaw_operator_workqueue_depth', { controller: 'secretsync' });
    const idle = last >= 0 && total - last <= IDLE_RECONCILES_PER_S && depth === 0;
    stable = idle ? stable + 1 : 0;
    if (stable >= 3) return;
    last = total;
    await sleep(1_000);
  }
  throw new Error(`${op.name}: still reconciling after ${timeoutMs / 1000} s`);
}

/** The highest secretsync queue depth, scraped every second until the returned function is called. */
function depthSampler(op: OperatorProc): () => number {
  let max = 0;
  const timer = setInterval(() => {
    scrape(op.metricsUrl)
      .then((s) => {
        max = Math.max(max, metric(s, 'oneclaw_operator_workqueue_depth', { controller: 'secretsync' }));
      })
      .catch(() => {});
  }, 1_000);
  return () => {
    clearInterval(timer);
    return max;
  };
}

/** Median and max RSS over the next `seconds`. */
async function sampleRss(
  op: OperatorProc,
  seconds: number,
): Promise<Omit<MemoryRow, 'name' | 'syncs' | 'unrelated_secrets'>> {
  const from = Date.now();
  await sleep(seconds * 1000);
  const xs = op.rss
    .filter((s) => s.t >= from)
    .map((s) => s.kib / 1024)
    .sort((a, b) => a - b);
  return {
    rss_median_mib: round1(percentile(xs, 0.5)),
    rss_max_mib: round1(xs[xs.length - 1] ?? Number.NaN),
    samples: xs.length,
  };
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[] } };
  nodes: number[];
}

/**
 * The operator's live JS heap after a full GC, MiB: SIGUSR2 makes it write a heap snapshot
 * (--heapsnapshot-signal; V8 collects garbage first), whose nodes' self sizes are summed here.
 */
async function liveHeapMib(op: OperatorProc): Promise<number> {
  const before = new Set(readdirSync(op.heapDir));
  op.snapshotAt ??= Date.now();
  process.kill(op.proc.pid, 'SIGUSR2');
  let size = -1;
  const snap = await waitFor(
    `${op.name}: heap snapshot`,
    async () => {
      const f = readdirSync(op.heapDir).find((n) => n.endsWith('.heapsnapshot') && !before.has(n));
      if (!f) return undefined;
      const path = join(op.heapDir, f);
      // Written synchronously by the operator's main thread: done when it stops growing and parses.
      const now = statSync(path).size;
      const grown = now !== size;
      size = now;
      if (grown || now === 0) return undefined;
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot;
      rmSync(path, { force: true });
      return parsed;
    },
    { process: op.proc, timeoutMs: 180_000, intervalMs: 1_000 },
  );
  const fields = snap.snapshot.meta.node_fields;
  const selfSize = fields.indexOf('self_size');
  let bytes = 0;
  for (let i = selfSize; i < snap.nodes.length; i += fields.length) bytes += snap.nodes[i] as number;
  return round1(bytes / 1024 / 1024);
}

/** Process groups of the control plane's processes (their command lines name its work directory). */
function kubeGroups(kube: KubeInfo): ProcSet[] {
  const dir = dirname(kube.kubeconfig);
  const sets: ProcSet[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (!cmd.includes(dir) || !/etcd|kube-apiserver|kube-controller-manager/.test(cmd)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (!sets.some((s) => s && 'pgrp' in s && s.pgrp === pgrp)) sets.push({ pgrp });
    } catch {
      // gone
    }
  }
  return sets;
}

/** CPU seconds the machine spent busy so far (all cores; /proc/stat). */
function machineBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

/** CPU seconds of a process's children that have exited and been reaped (cutime + cstime). */
function reapedChildren(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * Starts a CPU window over the operator, the API, PostgreSQL (its live processes and the backends
 * that exited meanwhile), the control plane, this process and the rest of the machine.
 */
function cpuWindow(groups: {
  operator: ProcSet;
  api: ProcSet;
  postgres: ProcSet;
  kube: ProcSet[];
}): () => CpuWindow {
  const sets = [groups.operator, groups.api, groups.postgres, ...groups.kube];
  const postmaster = groups.postgres && 'parent' in groups.postgres ? groups.postgres.parent : undefined;
  const t0 = Date.now();
  const before = setCpu(sets);
  const reapedBefore = reapedChildren(postmaster);
  const busyBefore = machineBusy();
  const self = process.cpuUsage();
  return () => {
    const after = setCpu(sets);
    const busy = machineBusy() - busyBefore;
    const s = (Date.now() - t0) / 1000;
    const d = (i: number) => (after[i] ?? 0) - (before[i] ?? 0);
    const pct = (sec: number) => Math.round((100 * sec) / s);
    const used = process.cpuUsage(self);
    const me = (used.user + used.system) / 1e6;
    let kube = 0;
    for (let i = 3; i < sets.length; i++) kube += d(i);
    const postgres = d(2) + reapedChildren(postmaster) - reapedBefore;
    const ours = d(0) + d(1) + postgres + kube + me;
    return {
      operator: pct(d(0)),
      api: pct(d(1)),
      postgres: pct(postgres),
      kube: pct(kube),
      bench: pct(me),
      other: Math.max(0, pct(busy - ours)),
    };
  };
}

// ── Kubernetes ──

interface ListPage<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

function kube(kc: KubeConfig) {
  const req = <T>(r: KubeRequest) => kubeRequest<T>(kc, { timeoutMs: 120_000, ...r });
  return {
    req,
    async list<T>(path: string, labelSelector?: string): Promise<{ items: T[]; resourceVersion: string }> {
      const items: T[] = [];
      let cont: string | undefined;
      let resourceVersion = '';
      do {
        const page = await req<ListPage<T>>({ path, query: { labelSelector, limit: 500, continue: cont } });
        items.push(...(page.items ?? []));
        cont = page.metadata?.continue || undefined;
        resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      } while (cont);
      return { items, resourceVersion };
    },
    /** Creates, treating 409 AlreadyExists as done. */
    async create(path: string, body: unknown): Promise<void> {
      try {
        await req({ method: 'POST', path, body });
      } catch (err) {
        if (statusCodeOf(err) !== 409) throw err;
      }
    },
  };
}
type Kube = ReturnType<typeof kube>;

const syncsPath = (ns?: string) =>
  ns ? `/apis/${API_VERSION}/namespaces/${ns}/${PLURAL_SYNCS}` : `/apis/${API_VERSION}/${PLURAL_SYNCS}`;
const vaultsPath = (ns?: string) =>
  ns ? `/apis/${API_VERSION}/namespaces/${ns}/${PLURAL_VAULTS}` : `/apis/${API_VERSION}/${PLURAL_VAULTS}`;

const conditionTrue = (o: { status?: { conditions?: Array<{ type: string; status: string }> } }, t: string) =>
  o.status?.conditions?.some((c) => c.type === t && c.status === 'True') ?? false;

/**
 * The benchmark's objects: sync j lives in namespace j mod namespaces, reads as one of that
 * namespace's service accounts (the accounts spread evenly over the namespaces) and reads 1 or 2
 * secrets of its own.
 */
function layout(s: OperatorScaleSettings) {
  const namespaces = Array.from({ length: s.namespaces }, (_, i) => `bench-op-${i}`);
  const nsOf = (j: number) => namespaces[j % s.namespaces] as string;
  const perNamespace = Math.max(1, Math.ceil(s.serviceAccounts / s.namespaces));
  const accounts = Array.from({ length: perNamespace }, (_, i) => `app-${i}`);
  const accountOf = (j: number) => accounts[Math.floor(j / s.namespaces) % perNamespace] as string;
  const keysOf = (j: number) => (j % 2 ? ['a', 'b'] : ['a']);
  const pathOf = (j: number, key: string) => `app/s${j}/${key}`;
  const syncBody = (j: number) => ({
    apiVersion: API_VERSION,
    kind: 'SecretSync',
    metadata: { name: `sync-${j}`, namespace: nsOf(j) },
    spec: {
      vaultRef: { name: 'vault' },
      serviceAccountName: accountOf(j),
      data: keysOf(j).map((k) => ({ secretKey: k, path: pathOf(j, k) })),
    },
  });
  return { namespaces, accounts, nsOf, keysOf, pathOf, syncBody };
}

/**
 * Lists a collection, then watches it from the list's resourceVersion (relisting on 410), calling
 * `onObject` for every object listed, added or modified with the time it arrived. A watch, not a
 * list every half second: the apiserver serializing thousands of objects twice a second would be
 * the bench's load, not the operator's.
 */
function followObjects<T extends { metadata?: { resourceVersion?: string } }>(
  kc: KubeConfig,
  k: Kube,
  path: string,
  labelSelector: string | undefined,
  onObject: (obj: T, at: number) => void,
) {
  const abort = new AbortController();
  let ready: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const loop = (async () => {
    let rv = '';
    while (!abort.signal.aborted) {
      try {
        if (!rv) {
          const listed = await k.list<T>(path, labelSelector);
          const at = performance.now();
          for (const item of listed.items) onObject(item, at);
          rv = listed.resourceVersion;
        }
        ready();
        await kubeWatch(
          kc,
          {
            path,
            query: { labelSelector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 600 },
            timeoutMs: 660_000,
            signal: abort.signal,
          },
          (ev) => {
            const at = performance.now();
            const obj = ev.object as T;
            if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
            if (ev.type === 'ADDED' || ev.type === 'MODIFIED') onObject(obj, at);
          },
        );
      } catch (err) {
        if (abort.signal.aborted) break;
        if (statusCodeOf(err) === 410) rv = '';
        await sleep(200);
      }
    }
  })();
  return {
    started,
    async stop() {
      abort.abort();
      await loop;
    },
  };
}

/** Follows SecretSyncs and their Secrets until every SecretSync is Synced=True and its Secret (owned by it) exists. */
async function waitConverged(
  kc: KubeConfig,
  k: Kube,
  expected: number,
  t0: number,
  log: (line: string) => void,
  timeoutMs = 600_000,
): Promise<{ p50_s: number; p90_s: number; all_s: number; last_sync_time_s: number }> {
  const syncs = new Map<string, SecretSync>();
  const owners = new Set<string>();
  const follows = [
    followObjects<SecretSync>(kc, k, syncsPath(), undefined, (s) => {
      syncs.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    }),
    followObjects<V1Secret>(kc, k, '/api/v1/secrets', SYNC_LABEL, (sec) => {
      for (const r of sec.metadata?.ownerReferences ?? []) if (r.controller) owners.add(r.uid);
    }),
  ];
  const marks: Record<'p50' | 'p90', number | undefined> = { p50: undefined, p90: undefined };
  let lastLog = Date.now();
  try {
    await Promise.all(follows.map((f) => f.started));
    for (;;) {
      const now = Date.now();
      const done = [...syncs.values()].filter(
        (s) => conditionTrue(s, 'Synced') && owners.has(s.metadata.uid as string),
      );
      const elapsed = (now - t0) / 1000;
      if (marks.p50 === undefined && done.length >= expected * 0.5) marks.p50 = elapsed;
      if (marks.p90 === undefined && done.length >= expected * 0.9) marks.p90 = elapsed;
      if (done.length >= expected) {
        const last = Math.max(...done.map((s) => Date.parse(s.status?.lastSyncTime ?? '') || 0));
        return {
          p50_s: round1(marks.p50 ?? elapsed),
          p90_s: round1(marks.p90 ?? elapsed),
          all_s: round1(elapsed),
          last_sync_time_s: round2((last - t0) / 1000),
        };
      }
      if (now - lastLog > 10_000) {
        lastLog = now;
        log(`  ${elapsed.toFixed(0)} s: ${done.length}/${expected} synced, ${owners.size} Secrets`);
      }
      if (now - t0 > timeoutMs) {
        const reasons: Record<string, number> = {};
        for (const s of syncs.values()) {
          const c = s.status?.conditions?.find((x) => x.type === 'Synced');
          const r = c ? `${c.status}/${c.reason}` : 'no status';
          reasons[r] = (reasons[r] ?? 0) + 1;
        }
        throw new Error(
          `SecretSyncs did not converge in ${timeoutMs / 1000} s: ${done.length}/${expected} (${JSON.stringify(reasons)})`,
        );
      }
      await sleep(100);
    }
  } finally {
    await Promise.all(follows.map((f) => f.stop()));
  }
}

// ── the benchmark ──

export async function runOperatorScale(
  opts: { kube: KubeInfo; postgres: PostgresInfo } & SectionOptions<OperatorScaleSettings>,
): Promise<OperatorScaleData> {
  const t0 = Date.now();
  const loadStart = loadavg()[0] ?? 0;
  // Before any process starts: what they load is what is checked out now, compiled.
  assertDistCurrent();
  const commit = measuredCommit();
  const s = opts.settings ?? operatorScaleSettings();
  const log = sectionLog('operator', opts.log);
  const work = makeWorkDir('bench-operator');
  const prep: Record<string, number> = {};
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    const out = await fn();
    prep[what] = round1((Date.now() - start) / 1000);
    log(`${what}: ${prep[what]} s`);
    return out;
  };
  const kc = new KubeConfig();
  kc.loadFromFile(opts.kube.kubeconfig);
  const k = kube(kc);
  const writesSince = async (before: ApiserverRequests) => writesBetween(before, await apiserverRequests(kc));
  const L = layout(s);
  let api: OneclawServer | undefined;
  const operators: OperatorProc[] = [];
  const running = new Set<OperatorProc>();
  const convergence: ConvergenceRow[] = [];
  const propagation: PropagationRow[] = [];
  const memory: MemoryRow[] = [];
  try {
    // ── the control plane, the API ──
    await timed('install the CRDs, namespaces and service accounts', async () => {
      await installCrds(opts.kube);
      for (const ns of [OPERATOR_NS, ...L.namespaces]) {
        await k.create('/api/v1/namespaces', { metadata: { name: ns } });
      }
      await k.create(`/api/v1/namespaces/${OPERATOR_NS}/serviceaccounts`, {
        metadata: { name: OPERATOR_SA },
      });
      for (const ns of L.namespaces)
        for (const sa of L.accounts)
          await k.create(`/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: sa } });
    });
    const { databaseUrl, env, adminKey } = await benchServerEnv(opts.postgres, 'bench_operator', work.dir, {
      ONECLAW_K8S_AUTH: 'tokenreview',
      ONECLAW_K8S_KUBECONFIG: opts.kube.kubeconfig,
      ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: `system:serviceaccount:${OPERATOR_NS}:${OPERATOR_SA}`,
      // The bench fills the vaults as one admin, faster than an admin's default 1,000 requests/s.
      ONECLAW_ADMIN_RATE_LIMIT: '0',
    });
    api = await startOneclaw('oneclaw-api', env, work.dir);
    const apiUrl = api.url;
    const admin = await adminAuth(apiUrl, adminKey);
    const postmaster = await postmasterPid(databaseUrl);
    const groups = (op: OperatorProc) => ({
      operator: { pgrp: op.proc.pid } as ProcSet,
      api: { pgrp: (api as OneclawServer).proc.pid } as ProcSet,
      postgres: (postmaster === undefined ? undefined : { parent: postmaster }) as ProcSet,
      kube: kubeGroups(opts.kube),
    });

    const operatorEnv = {
      ONECLAW_API_URL: apiUrl,
      ONECLAW_OPERATOR_NAMESPACE: OPERATOR_NS,
      ONECLAW_OPERATOR_SERVICE_ACCOUNT: OPERATOR_SA,
      ONECLAW_LOG_LEVEL: 'info',
      KUBECONFIG: opts.kube.kubeconfig,
    };
    const startOperator = async (name: string) => {
      const op = await startOperatorProc(name, operatorEnv, work.dir);
      operators.push(op);
      running.add(op);
      return op;
    };
    const stopOperator = async (op: OperatorProc) => {
      running.delete(op);
      const r = await op.stop();
      log(`${op.name} stopped in ${r.stopMs} ms (exit code ${r.exitCode})`);
    };
    const createSyncs = () =>
      parallel(s.syncs, 32, (j) =>
        k.req({ method: 'POST', path: syncsPath(L.nsOf(j)), body: L.syncBody(j) }),
      );
    const deleteSyncs = async () => {
      for (const ns of L.namespaces) {
        await k.req({ method: 'DELETE', path: syncsPath(ns) });
        await k.req({
          method: 'DELETE',
          path: `/api/v1/namespaces/${ns}/secrets`,
          query: { labelSelector: SYNC_LABEL },
        });
      }
      await waitFor(
        'SecretSyncs and their Secrets deleted',
        async () => {
          const [a, b] = await Promise.all([k.list(syncsPath()), k.list('/api/v1/secrets', SYNC_LABEL)]);
          return a.items.length + b.items.length === 0 ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
    };

    /** RSS over rssSeconds, then the live heap (the snapshot comes after: it costs memory itself). */
    const measureMemory = async (op: OperatorProc, name: string, syncs: number, unrelated: number) => {
      const rss = await sampleRss(op, s.rssSeconds);
      const heap = await liveHeapMib(op);
      memory.push({ name, syncs, unrelated_secrets: unrelated, ...rss, heap_live_mib: heap });
      log(`memory: ${JSON.stringify(memory[memory.length - 1])}`);
    };

    // ── 1. an idle operator (its own process): no OneclawVault, no SecretSync ──
    {
      const op0 = await startOperator('operator-0');
      await logTime(op0, 'controllers started');
      await sleep(5_000);
      await measureMemory(op0, 'idle: no OneclawVault, no SecretSync', 0, 0);
      await stopOperator(op0);
    }
    const op1 = await startOperator('operator-1');
    await logTime(op1, 'controllers started');

    // ── vaults and their secrets ──
    await timed(`${s.namespaces} OneclawVaults Ready`, async () => {
      for (const ns of L.namespaces) {
        await k.req({
          method: 'POST',
          path: vaultsPath(ns),
          body: {
            apiVersion: API_VERSION,
            kind: 'OneclawVault',
            metadata: { name: 'vault', namespace: ns },
            spec: {
              access: L.accounts.map((sa) => ({
                serviceAccount: sa,
                paths: ['app/**'],
                permissions: ['read'],
              })),
            },
          },
        });
      }
      await waitFor(
        'OneclawVaults Ready',
        async () => {
          const v = await k.list<OneclawVault>(vaultsPath());
          return v.items.length === s.namespaces &&
            v.items.every((x) => conditionTrue(x, 'Ready') && x.status?.vaultId)
            ? true
            : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
    });
    const vaultIds = new Map(
      (await k.list<OneclawVault>(vaultsPath())).items.map((v) => [
        v.metadata.namespace as string,
        v.status?.vaultId as string,
      ]),
    );
    const secretUrl = (j: number, key: string) =>
      `${apiUrl}/v1/vaults/${vaultIds.get(L.nsOf(j))}/secrets/${L.pathOf(j, key)}`;
    const writes = Array.from({ length: s.syncs }, (_, j) =>
      L.keysOf(j).map((key) => [j, key] as const),
    ).flat();
    await timed(`write ${writes.length} secrets through the API (admin, 16 in flight)`, () =>
      parallel(writes.length, 16, (i) => {
        const [j, key] = writes[i] as readonly [number, string];
        return call('PUT', secretUrl(j, key), admin, { type: 'password', value: `v0-${j}-${key}` });
      }),
    );

    // ── 2. convergence with the operator running ──
    {
      const before = await scrape(op1.metricsUrl);
      const apiBefore = await apiserverRequests(kc);
      const cpu = cpuWindow(groups(op1));
      const depth = depthSampler(op1);
      const tStart = Date.now();
      log(`creating ${s.syncs} SecretSyncs with ${op1.name} running`);
      await createSyncs();
      const createS = round1((Date.now() - tStart) / 1000);
      const marks = await waitConverged(kc, k, s.syncs, tStart, log);
      const cpuRow = cpu();
      const maxDepth = depth();
      await quiescent(op1);
      const after = await scrape(op1.metricsUrl);
      convergence.push({
        name: 'operator running, SecretSyncs created',
        syncs: s.syncs,
        from: 'first create',
        create_s: createS,
        ...marks,
        reconciles: reconcileDelta(before, after),
        cpu: cpuRow,
        apiserver: await writesSince(apiBefore),
        max_queue_depth: maxDepth,
      });
      log(`converged: ${JSON.stringify(convergence[convergence.length - 1])}`);
    }

    // ── 3. propagation: API write → Secret data ──
    {
      const expect = new Map<string, Array<{ value: string; put?: number; seen?: number; idx: number }>>();
      const watch = followObjects<V1Secret>(kc, k, '/api/v1/secrets', SYNC_LABEL, (sec, at) => {
        const id = `${sec.metadata?.namespace}/${sec.metadata?.name}`;
        const pending = expect.get(id);
        const raw = sec.data?.a;
        if (!pending || raw === undefined) return;
        const value = Buffer.from(raw, 'base64').toString('utf8');
        const i = pending.findIndex((p) => p.value === value);
        // The Secret holds this write: it and any earlier write to the same path have arrived.
        for (let x = 0; x <= i; x++) {
          const p = pending[x];
          if (p && p.seen === undefined) p.seen = at;
        }
      });
      await watch.started;
      let seq = 0;
      const put = async (j: number) => {
        const value = `u${seq++}-${randomBytes(6).toString('hex')}`;
        const id = `${L.nsOf(j)}/sync-${j}`;
        const entry: { value: string; put?: number; seen?: number; idx: number } = { value, idx: seq };
        expect.set(id, [...(expect.get(id) ?? []), entry]);
        await call('PUT', secretUrl(j, 'a'), admin, { type: 'password', value });
        entry.put = performance.now();
        return entry;
      };
      const row = async (
        name: string,
        rate: number,
        run: () => Promise<Array<{ put?: number; seen?: number }>>,
      ) => {
        const before = await scrape(op1.metricsUrl);
        const apiBefore = await apiserverRequests(kc);
        const cpu = cpuWindow(groups(op1));
        const start = performance.now();
        const entries = await run();
        const cpuRow = cpu();
        const lat = entries
          .filter((e) => e.seen !== undefined && e.put !== undefined)
          .map((e) => Math.max(0, (e.seen as number) - (e.put as number)))
          .sort((a, b) => a - b);
        const lastSeen = Math.max(...entries.map((e) => e.seen ?? 0));
        await quiescent(op1);
        const after = await scrape(op1.metricsUrl);
        const h0 = histogram(before);
        const h1 = histogram(after);
        propagation.push({
          name,
          updates: entries.length,
          rate_per_s: rate,
          seen: lat.length,
          p50_ms: Math.round(percentile(lat, 0.5)),
          p99_ms: Math.round(percentile(lat, 0.99)),
          max_ms: Math.round(lat[lat.length - 1] ?? Number.NaN),
          mean_ms: Math.round(lat.reduce((a, b) => a + b, 0) / Math.max(lat.length, 1)),
          window_s: round1((lastSeen - start) / 1000),
          histogram: { count: h1.count - h0.count, sum_s: round2(h1.sum_s - h0.sum_s) },
          reconciles: reconcileDelta(before, after),
          cpu: cpuRow,
          apiserver: await writesSince(apiBefore),
        });
        log(`propagation: ${JSON.stringify(propagation[propagation.length - 1])}`);
      };
      const waitSeen = async (entries: Array<{ seen?: number }>, timeoutMs: number) => {
        const deadline = Date.now() + timeoutMs;
        while (entries.some((e) => e.seen === undefined) && Date.now() < deadline) await sleep(20);
      };
      if (s.isolatedUpdates > 0) {
        await row('one write at a time', 0, async () => {
          const out = [];
          for (let i = 0; i < s.isolatedUpdates; i++) {
            // Syncs from the end of the range, so the steady-rate row below writes others.
            const e = await put(s.syncs - 1 - ((i * 7) % s.syncs));
            await waitSeen([e], 60_000);
            out.push(e);
            await sleep(1_000);
          }
          return out;
        });
      }
      await row(`${s.updates} writes at ${s.updateRate}/s`, s.updateRate, async () => {
        const started = performance.now();
        const pending: Array<Promise<{ put?: number; seen?: number }>> = [];
        for (let i = 0; i < s.updates; i++) {
          const due = started + (i * 1000) / s.updateRate;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          // Distinct syncs while updates ≤ syncs; consecutive writes land in different namespaces.
          pending.push(put(Math.floor((i * s.syncs) / s.updates) % s.syncs));
        }
        const entries = await Promise.all(pending);
        await waitSeen(entries, 180_000);
        return entries;
      });
      await watch.stop();
    }
    await quiescent(op1);
    await sleep(5_000);
    await measureMemory(
      op1,
      'operator-1, after the SecretSyncs converged and the propagation runs',
      s.syncs,
      0,
    );
    await stopOperator(op1);

    // ── 4. convergence from operator start (without, then with unrelated Secrets) ──
    const fromStart = async (name: string, opName: string, unrelated: number) => {
      await timed(`${opName}: delete and recreate ${s.syncs} SecretSyncs (operator stopped)`, async () => {
        await deleteSyncs();
        await createSyncs();
      });
      const apiBefore = await apiserverRequests(kc);
      const op = await startOperator(opName);
      const tStart = op.spawnedAt;
      const cpu = cpuWindow(groups(op));
      const depth = depthSampler(op);
      const marks = await waitConverged(kc, k, s.syncs, tStart, log);
      const cpuRow = cpu();
      const maxDepth = depth();
      const runningAt = await logTime(op, 'operator running');
      const controllersAt = await logTime(op, 'controllers started');
      await quiescent(op);
      const after = await scrape(op.metricsUrl);
      convergence.push({
        name,
        syncs: s.syncs,
        from: 'operator spawn',
        running_s: round2((runningAt - tStart) / 1000),
        controllers_started_s: round2((controllersAt - tStart) / 1000),
        ...marks,
        reconciles: reconcileDelta(new Map(), after),
        cpu: cpuRow,
        apiserver: await writesSince(apiBefore),
        max_queue_depth: maxDepth,
      });
      log(`converged: ${JSON.stringify(convergence[convergence.length - 1])}`);
      await sleep(5_000);
      await measureMemory(op, `${opName}, started over the SecretSyncs, converged`, s.syncs, unrelated);
      return op;
    };
    /** Stops `op` and starts another over the SecretSyncs it converged: it should write nothing. */
    const restartOver = async (op: OperatorProc, opName: string): Promise<RestartRow> => {
      await stopOperator(op);
      const apiBefore = await apiserverRequests(kc);
      const next = await startOperator(opName);
      await logTime(next, 'controllers started');
      await quiescent(next);
      const idle = round1((Date.now() - next.spawnedAt) / 1000 - 3);
      const after = await scrape(next.metricsUrl);
      const row: RestartRow = {
        name: `${opName}: ${op.name} stopped, ${opName} started over the converged SecretSyncs`,
        syncs: s.syncs,
        idle_s: idle,
        reconciles: reconcileDelta(new Map(), after),
        apiserver: await writesSince(apiBefore),
      };
      log(`restart: ${JSON.stringify(row)}`);
      await stopOperator(next);
      return row;
    };
    let last = await fromStart('operator started over existing SecretSyncs', 'operator-2', 0);

    if (s.unrelated > 0) {
      await timed(`create ${s.unrelated} unrelated Secrets (32 in flight)`, async () => {
        await k.create('/api/v1/namespaces', { metadata: { name: UNRELATED_NS } });
        await parallel(s.unrelated, 32, (i) =>
          k.req({
            method: 'POST',
            path: `/api/v1/namespaces/${UNRELATED_NS}/secrets`,
            body: { metadata: { name: `unrelated-${i}` }, data: { v: randomBytes(32).toString('base64') } },
          }),
        );
      });
      await stopOperator(last);
      last = await fromStart(
        `operator started over existing SecretSyncs, ${s.unrelated} unrelated Secrets present`,
        'operator-3',
        s.unrelated,
      );
    }
    const restart = await restartOver(last, `operator-${operators.length}`);

    const peak: Record<string, number> = {};
    for (const op of operators) {
      const until = op.snapshotAt ?? Number.POSITIVE_INFINITY;
      peak[op.name] = round1(Math.max(...op.rss.filter((x) => x.t < until).map((x) => x.kib)) / 1024);
    }
    const operatorLog: Record<string, number> = {};
    for (const op of operators) logSummary(op.proc.logFile, operatorLog);
    const apiLog: Record<string, number> = {};
    logSummary(api.proc.logFile, apiLog);
    return {
      settings: s,
      commit,
      kube_version: opts.kube.version,
      load_avg: { start: round2(loadStart), end: round2(loadavg()[0] ?? 0) },
      convergence,
      propagation,
      memory,
      restart,
      operator_node_options: chartNodeOptions().join(' '),
      peak_rss_mib: peak,
      prep,
      operator_log: operatorLog,
      api_log: apiLog,
      wall_s: round1((Date.now() - t0) / 1000),
    };
  } finally {
    await Promise.allSettled([...running].map((op) => op.stop()));
    await api?.proc.stop();
    // BENCH_KEEP_WORKDIR=1 keeps the operators' and the API's logs for a look afterwards.
    if (process.env.BENCH_KEEP_WORKDIR) log(`work directory kept: ${work.dir}`);
    else work.remove();
  }
}

/** The checked-out commit, and whether the code under test had uncommitted changes. */
function measuredCommit(): string | undefined {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'operator', 'api', 'sdk', 'cli');
    return dirty ? `${head}+changes` : head;
  } catch {
    return undefined;
  }
}
