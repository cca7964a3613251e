// The operator section's data and its report: the tables of bench/results/report.md, led by the
// targets table (each target beside the value measured and whether it was met).
import { type ApiserverWrites, objectWrites } from './apiserver-writes.js';

export interface OperatorScaleSettings {
  syncs: number;
  namespaces: number;
  /** Service accounts the SecretSyncs read as, spread over the namespaces (at least one each). */
  serviceAccounts: number;
  updates: number;
  updateRate: number;
  isolatedUpdates: number;
  unrelated: number;
  rssSeconds: number;
}

/** CPU used during a window, in % of one core (the machine has 200 %). */
export interface CpuWindow {
  operator: number;
  api: number;
  postgres: number;
  /** kube-apiserver, etcd and kube-controller-manager. */
  kube: number;
  /** This process: the bench's creates, lists and watch. */
  bench: number;
  /** Everything else the machine ran (from /proc/stat): other work on it shows here. */
  other?: number;
}

export interface ReconcileCounts {
  success: number;
  error: number;
  terminal: number;
  /** Mean secretsync reconcile duration over the same span (oneclaw_operator_reconcile_duration_seconds). */
  mean_ms?: number;
}

export interface ConvergenceRow {
  name: string;
  syncs: number;
  /** What t0 is: the first create, or the operator's spawn. */
  from: 'first create' | 'operator spawn';
  /** Creating every SecretSync (32 in flight), from t0; only when the operator was running. */
  create_s?: number;
  /** Spawn → the operator's "operator running" log line (Node, tsx and the CLI loaded). */
  running_s?: number;
  /** Spawn → its "controllers started" log line (also the Lease taken and the caches listed). */
  controllers_started_s?: number;
  /** From t0 to the first poll (lists every 500 ms) that saw this share Synced=True with their Secret. */
  p50_s: number;
  p90_s: number;
  all_s: number;
  /** From t0 to the latest status.lastSyncTime (the operator's clock, millisecond precision). */
  last_sync_time_s: number;
  /** secretsync reconciles from t0 until the operator was idle again. */
  reconciles: ReconcileCounts;
  cpu: CpuWindow;
  /** Writes the apiserver served from t0 until the operator was idle again (its own metrics). */
  apiserver?: ApiserverWrites;
  /** Highest secretsync work-queue depth seen (scraped every second) until every SecretSync synced. */
  max_queue_depth?: number;
}

export interface PropagationRow {
  name: string;
  updates: number;
  /** Writes per second (0: one at a time, each after the previous one arrived). */
  rate_per_s: number;
  seen: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
  /** From the first PUT to the last Secret seen. */
  window_s: number;
  /** Delta of oneclaw_operator_sync_propagation_seconds over the row. */
  histogram: { count: number; sum_s: number };
  reconciles: ReconcileCounts;
  cpu: CpuWindow;
  /** Writes the apiserver served over the row. */
  apiserver?: ApiserverWrites;
}

/** An operator restarted over SecretSyncs that had converged: what it wrote, how long it took. */
export interface RestartRow {
  name: string;
  syncs: number;
  /** From the spawn until it was idle (no reconcile and an empty queue for 3 s). */
  idle_s: number;
  reconciles: ReconcileCounts;
  apiserver: ApiserverWrites;
}

export interface MemoryRow {
  name: string;
  syncs: number;
  unrelated_secrets: number;
  rss_median_mib: number;
  rss_max_mib: number;
  samples: number;
  /** Live JS heap after a full GC (a heap snapshot taken after the RSS samples), MiB. */
  heap_live_mib?: number;
}

export interface OperatorScaleData {
  settings: OperatorScaleSettings;
  /** The commit measured (short hash, "+changes" when operator/, api/, sdk/ or cli/ had uncommitted edits). */
  commit?: string;
  kube_version: string;
  /** 1-minute load average when the section started and ended (other work on the machine shows here). */
  load_avg: { start: number; end: number };
  convergence: ConvergenceRow[];
  propagation: PropagationRow[];
  memory: MemoryRow[];
  restart?: RestartRow;
  /** The operator's NODE_OPTIONS (the chart's), beside the bench's own diagnostics flags. */
  operator_node_options?: string;
  /** Highest RSS of each operator process over its life until its heap snapshot, MiB. */
  peak_rss_mib: Record<string, number>;
  prep: Record<string, number>;
  /** Lines at warn level or above in the operators' logs, by message. */
  operator_log: Record<string, number>;
  api_log: Record<string, number>;
  wall_s: number;
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;

// ── the report ──

/** One target of the section: what was asked, what was measured, whether it was met. */
export interface TargetRow {
  target: string;
  measured: string;
  met: boolean | undefined;
}

const UNRELATED_FLAT = 1.1;

/** The section's targets, each beside its value (undefined met: not measured in this run). */
export function operatorTargets(d: OperatorScaleData): TargetRow[] {
  const rows: TargetRow[] = [];
  const running = d.convergence.find((c) => c.from === 'first create');
  const started = d.convergence.filter((c) => c.from === 'operator spawn');
  const within = (c: ConvergenceRow | undefined) => (c ? c.all_s <= 60 : undefined);
  rows.push({
    target: `${d.settings.syncs} SecretSyncs converge within 60 s of the operator's start`,
    measured: started.length ? started.map((c) => `${c.all_s} s`).join(', ') : '—',
    met: started.length ? started.every((c) => within(c)) : undefined,
  });
  rows.push({
    target: 'within 60 s of their creation, the operator running',
    measured: running
      ? `${running.all_s} s from the first create (creating took ${running.create_s} s)`
      : '—',
    met: within(running),
  });
  const synced = [running, ...started].filter((c): c is ConvergenceRow => !!c?.apiserver);
  const perSync = (c: ConvergenceRow, n: number) => round2(n / c.syncs);
  rows.push({
    target: 'apiserver writes per newly synced SecretSync ≤ 2 (its Secret, one status write)',
    measured: synced.length
      ? synced
          .map(
            (c) =>
              `${perSync(c, (c.apiserver as ApiserverWrites).secrets + (c.apiserver as ApiserverWrites).sync_status)}`,
          )
          .join(', ')
      : '—',
    met: synced.length
      ? synced.every(
          (c) =>
            perSync(
              c,
              (c.apiserver as ApiserverWrites).secrets + (c.apiserver as ApiserverWrites).sync_status,
            ) <= 2,
        )
      : undefined,
  });
  rows.push({
    target: 'one Event per object and reason (≤ 1 Event write per new SecretSync)',
    measured: synced.length
      ? synced.map((c) => `${perSync(c, (c.apiserver as ApiserverWrites).events)}`).join(', ')
      : '—',
    met: synced.length
      ? synced.every((c) => perSync(c, (c.apiserver as ApiserverWrites).events) <= 1)
      : undefined,
  });
  rows.push({
    target: 'a converged SecretSync costs 0 writes on an operator restart',
    measured: d.restart
      ? `${objectWrites(d.restart.apiserver)} writes for ${d.restart.syncs} SecretSyncs`
      : '—',
    met: d.restart ? objectWrites(d.restart.apiserver) === 0 : undefined,
  });
  const withSyncs = d.memory.filter((m) => m.syncs > 0);
  const peakOf = Math.max(
    ...Object.entries(d.peak_rss_mib)
      .filter(([name]) => name !== 'operator-0')
      .map(([, v]) => v),
  );
  const rest = Math.max(...withSyncs.map((m) => m.rss_median_mib));
  rows.push({
    target: `operator RSS ≤ 150 MiB at ${d.settings.syncs} SecretSyncs (compiled JavaScript)`,
    measured: withSyncs.length ? `peak ${peakOf} MiB, at rest ≤ ${rest} MiB` : '—',
    met: withSyncs.length ? peakOf <= 150 && rest <= 150 : undefined,
  });
  const plain = withSyncs.find((m) => m.unrelated_secrets === 0 && m.name.startsWith('operator-2'));
  const crowded = withSyncs.find((m) => m.unrelated_secrets > 0);
  rows.push({
    target: `RSS flat with ${d.settings.unrelated} unrelated Secrets (at rest within ${Math.round((UNRELATED_FLAT - 1) * 100)} %)`,
    measured:
      plain && crowded ? `${crowded.rss_median_mib} MiB with them, ${plain.rss_median_mib} MiB without` : '—',
    met: plain && crowded ? crowded.rss_median_mib <= plain.rss_median_mib * UNRELATED_FLAT : undefined,
  });
  const steady = d.propagation.find((p) => p.rate_per_s > 0);
  rows.push({
    target: 'propagation API write → Secret p99 ≤ 1 s under load',
    measured: steady ? `p99 ${steady.p99_ms} ms (p50 ${steady.p50_ms} ms), ${steady.name}` : '—',
    met: steady ? steady.p99_ms <= 1000 : undefined,
  });
  return rows;
}

const writeCells = (w: ApiserverWrites | undefined, n: number) =>
  w
    ? `${w.secrets} | ${w.sync_status} | ${w.events} | ${round2((w.secrets + w.sync_status) / Math.max(n, 1))} | ` +
      `${w.syncs} | ${w.vaults} | ${w.token_requests} | ${w.token_reviews ?? '—'} | ${w.other}`
    : '— | — | — | — | — | — | — | — | —';

/** Who used the most CPU over a run, and the machine's total (what bounded it, when near 200 %). */
const busiest = (c: CpuWindow) => {
  const shares: Array<[string, number]> = [
    ['kube-apiserver + etcd', c.kube],
    ['operator', c.operator],
    ['API', c.api],
    ['PostgreSQL', c.postgres],
    ['bench', c.bench],
  ];
  const [name, pct] = shares.reduce((a, b) => (b[1] > a[1] ? b : a));
  const total = c.operator + c.api + c.postgres + c.kube + c.bench + (c.other ?? 0);
  return `${name} ${pct}; machine ${total}`;
};

const recCells = (r: ReconcileCounts) =>
  `${r.success}${r.error || r.terminal ? ` (+${r.error} error, ${r.terminal} terminal)` : ''}`;

/** The report section (markdown) for the data `runOperatorScale` returned. */
export function renderOperatorScale(d: OperatorScaleData): string {
  const s = d.settings;
  const md = (t: string) => `\`${t.replaceAll('`', "'").replaceAll('|', '\\|')}\``;
  const idle = d.memory[0];
  const ratio = (x: number | undefined, base: number | undefined) =>
    x === undefined || !base ? '—' : String(Number((x / base).toPrecision(3)));
  const logLines = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([k, n]) => `${md(k.slice(0, 200))} × ${n}`)
      .join('; ');
  const startup = (c: ConvergenceRow) =>
    c.running_s === undefined ? '—' : `${c.running_s} / ${c.controllers_started_s}`;
  const verdict = (m: boolean | undefined) => (m === undefined ? 'not measured' : m ? 'met' : '**not met**');
  return [
    '## Operator at scale (no peer operator available)',
    '',
    '### Targets',
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...operatorTargets(d).map((t) => `| ${t.target} | ${t.measured} | ${verdict(t.met)} |`),
    '',
    'The operator runs the compiled JavaScript (`node dist/cli/src/main.js operator`, as the image does) ' +
      'in its own process, watching all namespaces (default concurrency 4, ' +
      'leader election on), against a private control plane (etcd, kube-apiserver and ' +
      `kube-controller-manager ${d.kube_version}, no kubelet) and \`bin/oneclaw server\` in its own ` +
      "process (production profile, local KMS, Kubernetes TokenReview auth, the operator's service " +
      'account an org admin) on PostgreSQL 15 with **fsync on**. ' +
      `${s.syncs} SecretSyncs spread over ${s.namespaces} namespaces, each namespace with one OneclawVault ` +
      `granting its service accounts (${s.serviceAccounts ?? s.namespaces} in all) \`read\` on \`app/**\`; every ` +
      'SecretSync reads its own 1 or 2 secrets (written beforehand through the API as admin) as one of them.' +
      (d.commit ? ` Code measured: commit \`${d.commit}\`.` : ''),
    '',
    '**No peer.** No other operator runs side by side: External Secrets Operator needs Go builds and a ' +
      'real provider, neither available here. The only ratios are memory against the idle operator.',
    '',
    '**Caveats.** The machine has 2 cores shared by the control plane, PostgreSQL, the API, the operator ' +
      'and the bench process (the CPU table says who used what); other work on the machine adds noise ' +
      `(1-minute load average ${d.load_avg.start} at the start of the section, ${d.load_avg.end} at the end). ` +
      'Convergence is observed by watching SecretSyncs and labelled Secrets (a list, then a watch: ' +
      'polling lists of thousands of objects would load the apiserver more than the operator does), ' +
      'checked every 100 ms; ' +
      "the latest `status.lastSyncTime` is the operator's own millisecond timestamp of the last sync.",
    '',
    '### Convergence',
    '',
    'Time from t0 until every SecretSync is `Synced=True` and its Secret (owned by it) exists. ' +
      '"operator running": t0 is the first create; the SecretSyncs are created 32 in flight while the ' +
      'operator runs. "operator started": the SecretSyncs and their Secrets were deleted and recreated ' +
      'while no operator ran; t0 is the spawn of the operator. Startup: spawn to its ' +
      '`operator running` log line (Node and the CLI loaded) / to `controllers started` (Lease taken, ' +
      'caches listed). Reconciles: secretsync reconciles from t0 until the operator was idle again, and ' +
      'their mean duration (`oneclaw_operator_reconcile_duration_seconds`; 4 workers run them in parallel). ' +
      'What bounded a run: a queue far deeper than the 4 workers means the operator had more work ' +
      'than it took on (its reconciles waited on the apiserver and the API); a machine total near 200 % ' +
      'means the CPU was spent, mostly by the busiest process named.',
    '',
    '| scenario | SecretSyncs | t0 | created s | startup s | 50 % s | 90 % s | all s | last lastSyncTime s | SecretSyncs/s | reconciles | per SecretSync | mean reconcile ms | max queue depth | busiest (CPU %, of 200) |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...d.convergence.map(
      (c) =>
        `| ${c.name} | ${c.syncs} | ${c.from} | ${c.create_s ?? '—'} | ${startup(c)} | ` +
        `${c.p50_s} | ${c.p90_s} | ${c.all_s} | ${c.last_sync_time_s} | ${round1(c.syncs / c.all_s)} | ` +
        `${recCells(c.reconciles)} | ${round1(c.reconciles.success / c.syncs)} | ${c.reconciles.mean_ms ?? '—'} | ` +
        `${c.max_queue_depth ?? '—'} | ${busiest(c.cpu)} |`,
    ),
    '',
    '### Writes, as the apiserver counted them',
    '',
    "Deltas of kube-apiserver's `apiserver_request_total` (write verbs) over each run, by what was written: " +
      'Secrets, SecretSync status, Events (created or aggregated), the writes per SecretSync (Secret + status; ' +
      'per write for the propagation rows), SecretSyncs themselves (the bench creates them: one each), ' +
      'OneclawVaults, TokenRequests (one per service account and token lifetime is the aim, plus the ' +
      "operator's own), TokenReviews (the API checking each token it exchanges) and anything else (the controller-manager's own work included). Lease renewals are " +
      'left out. The restart row: the operator stopped and another started over SecretSyncs already ' +
      'converged, from its spawn until it was idle.',
    '',
    '| run | Secrets | status | Events | per SecretSync | SecretSyncs | OneclawVaults | TokenRequests | TokenReviews | other |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...d.convergence.map((c) => `| ${c.name} | ${writeCells(c.apiserver, c.syncs)} |`),
    ...d.propagation.map((p) => `| ${p.name} | ${writeCells(p.apiserver, p.updates)} |`),
    ...(d.restart
      ? [
          `| ${d.restart.name} (idle after ${d.restart.idle_s} s, ${recCells(d.restart.reconciles)} reconciles) | ` +
            `${writeCells(d.restart.apiserver, d.restart.syncs)} |`,
        ]
      : []),
    '',
    '### Propagation (API write → Kubernetes Secret)',
    '',
    'Every write is a PUT of a new value to a path read by exactly one SecretSync; latency is from the ' +
      "PUT's 200 to the bench's watch on Secrets labelled `oneclaw.dev/secretsync` showing the new value " +
      '(decoded and compared). "one write at a time": each write waits for the previous one to arrive, ' +
      `plus 1 s. The steady row writes at a fixed rate to distinct SecretSyncs, round-robin over the ` +
      `${s.namespaces} vaults (${Math.round(s.syncs / s.namespaces)} SecretSyncs per vault). Histogram: the ` +
      "operator's own `oneclaw_operator_sync_propagation_seconds` over the row (count and sum). Its clock " +
      'starts when the first change-feed event naming a path the SecretSync reads since it last synced ' +
      'reaches the operator, and stops at the end of the reconcile, after the status write and the Event ' +
      "that follow the Secret's update. Reconciles: secretsync reconciles over the row, until " +
      'the operator was idle again, and their mean duration (`oneclaw_operator_reconcile_duration_seconds`).',
    '',
    '| run | writes | rate /s | arrived | p50 ms | p99 ms | max ms | mean ms | first write → last arrival s | histogram count | histogram sum s | histogram mean ms | reconciles | per write | mean reconcile ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...d.propagation.map(
      (p) =>
        `| ${p.name} | ${p.updates} | ${p.rate_per_s || '—'} | ${p.seen} | ${p.p50_ms} | ${p.p99_ms} | ${p.max_ms} | ` +
        `${p.mean_ms} | ${p.window_s} | ${p.histogram.count} | ${p.histogram.sum_s} | ` +
        `${p.histogram.count ? Math.round((1000 * p.histogram.sum_s) / p.histogram.count) : '—'} | ` +
        `${recCells(p.reconciles)} | ${round1(p.reconciles.success / Math.max(p.updates, 1))} | ` +
        `${p.reconciles.mean_ms ?? '—'} |`,
    ),
    '',
    'CPU over each run (% of one core; the machine has 200 %): convergence rows until every SecretSync ' +
      'was synced, propagation rows until the last write arrived. "kube" is kube-apiserver, etcd and ' +
      'kube-controller-manager; "bench" is the process creating objects, listing and watching; "other ' +
      'work" is the rest of the machine\'s busy time (`/proc/stat`): anything else running at the same time.',
    '',
    '| run | operator | API | postgres | kube | bench | total | other work on the machine |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...[...d.convergence, ...d.propagation].map(
      (r) =>
        `| ${r.name} | ${r.cpu.operator} | ${r.cpu.api} | ${r.cpu.postgres} | ${r.cpu.kube} | ${r.cpu.bench} | ` +
        `${r.cpu.operator + r.cpu.api + r.cpu.postgres + r.cpu.kube + r.cpu.bench} | ${r.cpu.other ?? '—'} |`,
    ),
    '',
    '### Memory',
    '',
    `RSS: \`VmRSS\` of the operator process, sampled every 250 ms over ${s.rssSeconds} s, starting 5 s ` +
      'after it went idle (no reconcile and an empty queue for 3 s; the idle operator, a process of its ' +
      'own, 5 s after its controllers started). Live heap: the JS heap after a full GC, from a heap ' +
      'snapshot the operator writes on SIGUSR2 (`--heapsnapshot-signal`) after the RSS samples. RSS is ' +
      "mostly what V8 and the allocator hold on to: it follows the process's peak more than what is " +
      'live, so the live heap is the column that says whether the caches grow. The unrelated Secrets ' +
      '(32 random bytes each, not labelled by oneclaw) sit in a namespace of their own and exist before ' +
      'the operator starts; it lists and watches only Secrets labelled `oneclaw.dev/secretsync`. The ' +
      `operator runs the compiled JavaScript, as the image does${d.operator_node_options ? `, with the NODE_OPTIONS its Deployment sets (\`${d.operator_node_options}\`)` : ''}.`,
    '',
    '| operator | SecretSyncs | unrelated Secrets | RSS median MiB | RSS max MiB | × idle RSS | live heap MiB | × idle heap |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...d.memory.map(
      (m) =>
        `| ${m.name} | ${m.syncs} | ${m.unrelated_secrets} | ${m.rss_median_mib} | ${m.rss_max_mib} | ` +
        `${ratio(m.rss_median_mib, idle?.rss_median_mib)} | ${m.heap_live_mib ?? '—'} | ` +
        `${ratio(m.heap_live_mib, idle?.heap_live_mib)} |`,
    ),
    '',
    `Peak RSS of each operator from its start to its heap snapshot (MiB): ${Object.entries(d.peak_rss_mib)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
    `Preparation (the whole section took ${d.wall_s} s):`,
    '',
    ...Object.entries(d.prep).map(([what, sec]) => `- ${what}: ${sec} s`),
    '',
    Object.keys(d.operator_log).length
      ? `Operator log lines at warn or above: ${logLines(d.operator_log)}`
      : 'Operator logs: no lines at warn or above.',
    '',
    Object.keys(d.api_log).length
      ? `API log lines at warn or above: ${logLines(d.api_log)}`
      : 'API log: no lines at warn or above.',
  ].join('\n');
}
