// The api-load section's data and its report: the load table with ratios against both OpenBao
// peers, CPU per row, PostgreSQL sessions, the targets met or not, revocation across replicas,
// and the durability settings in force on both sides, queried when the run ended.
import pg from 'pg';
import type { DurableOpenBaoInfo } from '../test/support/peers/openbao-durable.js';
import type { ApiLoadSettings } from './api-load.js';
import type { CpuShare, PgSessions } from './api-load-kit.js';
import type { RevocationResult } from './api-revocation.js';
import { type LoadMeasurement, loadTable, ratio } from './lib.js';

export const ROW = {
  get: 'oneclaw GET',
  durableGet: 'OpenBao raft+audit GET',
  devGet: 'OpenBao dev GET',
  put: 'oneclaw PUT',
  durablePut: 'OpenBao raft+audit PUT',
  devPut: 'OpenBao dev PUT',
  twoReplicas: 'oneclaw GET, two replicas',
} as const;

export interface ApiLoadRow extends LoadMeasurement {
  /** oneclaw server processes behind the load. */
  servers?: number;
  cpu?: CpuShare;
  pg_sessions?: PgSessions;
  /** Bytes the durable peer's audit file grew by per request (median of the rounds). */
  audit_bytes_per_request?: number;
}

export interface Durability {
  postgres: { fsync: string; synchronous_commit: string; wal_sync_method: string };
  openbao: {
    storage: string;
    raft_voters: number;
    audit_devices: Array<{ path: string; type: string; file_path: string }>;
    config: string;
  };
}

export interface ApiLoadData {
  settings: ApiLoadSettings;
  rows: ApiLoadRow[];
  /** One probe per round, taken during the two-replica run. */
  revocation?: RevocationResult[];
  durability?: Durability;
  /** Untimed preparation: filling the stores and the warm-up passes. */
  prep: Record<string, { seconds: number; non2xx: number; errors: number }>;
  /** Lines at warn level or above in the oneclaw servers' logs, by message. */
  server_log: Record<string, number>;
  wall_s: number;
}

const REVOCATION_TARGET_MS = 1_000;

/** The settings in force on the server's PostgreSQL and on the durable peer, asked of each. */
export async function durability(databaseUrl: string, bao: DurableOpenBaoInfo): Promise<Durability> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  const show = async (name: string) =>
    (await c.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?';
  let postgres: Durability['postgres'];
  try {
    postgres = {
      fsync: await show('fsync'),
      synchronous_commit: await show('synchronous_commit'),
      wal_sync_method: await show('wal_sync_method'),
    };
  } finally {
    await c.end();
  }
  const ask = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${bao.address}/v1/${path}`, { headers: { 'x-vault-token': bao.token } });
    if (!res.ok) throw new Error(`OpenBao ${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  const raft = await ask<{ data: { config: { servers: Array<{ voter: boolean }> } } }>(
    'sys/storage/raft/configuration',
  );
  const audit = await ask<{ data?: Record<string, { type: string; options?: { file_path?: string } }> }>(
    'sys/audit',
  );
  return {
    postgres,
    openbao: {
      storage: 'raft',
      raft_voters: raft.data.config.servers.filter((x) => x.voter).length,
      audit_devices: Object.entries(audit.data ?? {}).map(([path, d]) => ({
        path,
        type: d.type,
        file_path: d.options?.file_path ?? '',
      })),
      config: bao.config,
    },
  };
}

interface Target {
  what: string;
  measured: string;
  met: boolean;
}

/** The issue's targets against the rows (and the revocation probes) of one run. */
export function targets(d: ApiLoadData): Target[] {
  const row = (name: string) => d.rows.find((r) => r.name === name);
  const out: Target[] = [];
  const vs = (what: string, mine: string, peer: string, field: 'req_per_s' | 'p99_ms', bound: number) => {
    const a = row(mine);
    const b = row(peer);
    if (!a || !b) return;
    if (field === 'req_per_s') {
      const x = a.req_per_s / Math.max(b.req_per_s, 1);
      out.push({
        what,
        measured: `${a.req_per_s} vs ${b.req_per_s} req/s = ${ratio(a.req_per_s, b.req_per_s)}×`,
        met: x >= bound,
      });
    } else {
      out.push({ what, measured: `${a.p99_ms} vs ${b.p99_ms} ms`, met: a.p99_ms <= b.p99_ms });
    }
  };
  vs('GET req/s ≥ 1.5× OpenBao raft+audit', ROW.get, ROW.durableGet, 'req_per_s', 1.5);
  vs('GET req/s ≥ 1.0× OpenBao dev', ROW.get, ROW.devGet, 'req_per_s', 1.0);
  vs('GET p99 ≤ OpenBao raft+audit p99', ROW.get, ROW.durableGet, 'p99_ms', 0);
  vs('PUT req/s ≥ 1.0× OpenBao raft+audit', ROW.put, ROW.durablePut, 'req_per_s', 1.0);
  vs('PUT p99 ≤ OpenBao raft+audit p99', ROW.put, ROW.durablePut, 'p99_ms', 0);
  const rev = d.revocation ?? [];
  if (rev.length) {
    const worst = rev.some((r) => r.sent_to_refused_ms === null)
      ? null
      : Math.max(...rev.map((r) => r.sent_to_refused_ms as number));
    const clean = rev.every((r) => r.reads_before > 0 && r.served_after_refusal === 0);
    out.push({
      what: `revocation on replica A refused by replica B under load < ${REVOCATION_TARGET_MS} ms`,
      measured:
        (worst === null ? 'never refused within 10 s' : `${worst} ms (worst of ${rev.length})`) +
        (clean ? '' : '; the member was not served before the revoke, or was served after a refusal'),
      met: worst !== null && worst < REVOCATION_TARGET_MS && clean,
    });
  }
  return out;
}

const md = (t: string) => `\`${t.replaceAll('`', "'").replaceAll('|', '\\|')}\``;

function cpuTable(d: ApiLoadData): string[] {
  const rows = d.rows
    .filter((r) => r.cpu)
    .map((r) => {
      const c = r.cpu as CpuShare;
      const oc = r.name.startsWith('oneclaw');
      const total = c.loadgen + c.server + (oc ? c.postgres : 0);
      return `| ${r.name} | ${c.loadgen} | ${oc ? c.server : '—'} | ${oc ? c.postgres : '—'} | ${oc ? '—' : c.server} | ${total} |`;
    });
  return [
    '| benchmark | load generator | oneclaw server(s) | PostgreSQL | OpenBao | total |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
  ];
}

function revocationLines(d: ApiLoadData): string[] {
  const rev = d.revocation ?? [];
  if (!rev.length) return [];
  return [
    `Revocation under load, one probe per round during \`${ROW.twoReplicas}\`: an agent with a \`read\` grant ` +
      'reads one secret through replica B in 2 loops (each at most one read per 25 ms, under the per-principal rate limit); a third of the way into the run its grant is deleted ' +
      "through replica A; the time is until B's first 401/403 (measured in the bench process, which also " +
      'runs the load generator, so it errs long). Reads B served after its first refusal must be 0.',
    '',
    '| round | revoke sent → B refuses, ms | A acknowledged → B refuses, ms | refusal | member reads served before | served after refusal | other answers |',
    '|---:|---:|---:|---:|---:|---:|---|',
    ...rev.map(
      (r, i) =>
        `| ${i + 1} | ${r.sent_to_refused_ms ?? 'never'} | ${r.acked_to_refused_ms ?? '—'} | ${r.refusal_status ?? '—'} | ` +
        `${r.reads_before} | ${r.served_after_refusal} | ${JSON.stringify(r.other_statuses)} |`,
    ),
    '',
  ];
}

function durabilityLines(d: ApiLoadData): string[] {
  const x = d.durability;
  if (!x) return [];
  const devices = x.openbao.audit_devices
    .map((a) => `\`${a.path}\` (${a.type}, \`${a.file_path}\`)`)
    .join(', ');
  const audit = d.rows
    .filter((r) => r.audit_bytes_per_request !== undefined)
    .map((r) => `${r.name}: ${r.audit_bytes_per_request} B per request`)
    .join('; ');
  return [
    "Durability in force, asked of each side after the run: the oneclaw servers' PostgreSQL " +
      `\`fsync=${x.postgres.fsync}\`, \`synchronous_commit=${x.postgres.synchronous_commit}\`, ` +
      `\`wal_sync_method=${x.postgres.wal_sync_method}\`; the durable OpenBao: storage \`${x.openbao.storage}\` ` +
      `(${x.openbao.raft_voters} voter), audit devices ${devices || 'none'}; its audit file grew during every ` +
      `timed run (asserted; ${audit}).`,
    '',
    '<details><summary>OpenBao raft+audit config</summary>',
    '',
    '```hcl',
    x.openbao.config.trim(),
    '```',
    '',
    '</details>',
    '',
  ];
}

/** The report section (markdown) for the data `runApiLoad` returned. */
export function renderApiLoad(d: ApiLoadData): string {
  const s = d.settings;
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
  const goals = targets(d);
  const logLines = Object.entries(d.server_log).sort((a, b) => b[1] - a[1]);
  return [
    '## HTTP API under load vs OpenBao, durable and dev mode (same machine, same run)',
    '',
    '`bin/oneclaw server` from `dist/` (the compiled JavaScript; production profile, local KMS, log level ' +
      `warn) runs in its own process on PostgreSQL 15 with **fsync on**; autocannon 8 drives it from the ` +
      `bench process with ${s.connections} keep-alive connections over loopback. ${s.secrets} secrets of ` +
      `${s.valueBytes} B (random) in one vault; requests are spread round-robin over all ${s.secrets} paths. ` +
      'GET reads the latest version; PUT writes a new version of an existing path. Two peers get the same ' +
      'paths, values, connections and duration: **OpenBao raft+audit** (`bao server` with integrated raft ' +
      'storage on disk and a file audit device declared in its config, initialized with one key share and ' +
      'unsealed by the bench, KV v2 at `secret/`, root token) and **OpenBao dev** (`bao server -dev`: ' +
      `storage in memory, no audit device). \`${ROW.twoReplicas}\` runs a second server on the same ` +
      'database and splits the connections evenly over both (two autocannon instances, counts summed, ' +
      "percentiles the worse instance's). Each row is the median of " +
      `${s.rounds} round(s) of ${s.durationS} s, the scenarios interleaved round by round, after one ` +
      'untimed warm-up pass that GETs every path once on every target.',
    '',
    '**Caveats.** The machine has 2 cores: the server(s), PostgreSQL (or OpenBao) and the load generator ' +
      'share them (the CPU table says who used what; a total near 200 % means the box, not the server ' +
      'design, set the limit), and other work on the machine adds noise between rounds. Latency ' +
      "percentiles are autocannon's, of 2xx responses only, at 1 ms resolution; errors are connection " +
      'errors and timeouts; both counts are summed over the rounds.',
    '',
    'Ratio columns: req/s and p99 relative to the OpenBao row doing the same operation, durable ' +
      '(raft+audit) and dev mode (req/s: higher is better; p99: lower is better).',
    '',
    loadTable(d.rows),
    '',
    ...(goals.length
      ? [
          'Targets:',
          '',
          '| target | measured | |',
          '|---|---|---|',
          ...goals.map((g) => `| ${g.what} | ${g.measured} | ${g.met ? 'met' : '**not met**'} |`),
          '',
        ]
      : []),
    ...revocationLines(d),
    ...durabilityLines(d),
    'CPU during the timed runs (% of one core, median of the rounds; the machine has 200 %): the load ' +
      'generator is the bench process; "oneclaw server(s)" the server process or both replicas; ' +
      '"PostgreSQL" all its processes; "OpenBao" the peer process under load.',
    '',
    ...cpuTable(d),
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
