// The api-load report judges the targets: a row that misses one must read "not met", and the
// report must still render the data of runs written before the durable peer existed.
import { describe, expect, it } from 'vitest';
import { type ApiLoadData, type ApiLoadRow, ROW, renderApiLoad, targets } from './api-load-report.js';
import type { RevocationResult } from './api-revocation.js';

const row = (name: string, req_per_s: number, p99_ms: number): ApiLoadRow => ({
  name,
  connections: 64,
  duration_s: 10,
  rounds: 3,
  req_per_s,
  p50_ms: p99_ms / 2,
  p99_ms,
  p99_9_ms: p99_ms * 2,
  errors: 0,
  non2xx: 0,
  statuses: { '200': 1 },
});

const probe = (ms: number | null, extra: Partial<RevocationResult> = {}): RevocationResult => ({
  sent_to_refused_ms: ms,
  acked_to_refused_ms: ms === null ? null : ms - 50,
  refusal_status: ms === null ? null : 403,
  reads_before: 10,
  served_after_refusal: 0,
  other_statuses: {},
  ...extra,
});

const data = (rows: ApiLoadRow[], revocation: RevocationResult[]): ApiLoadData => ({
  settings: { secrets: 2000, valueBytes: 256, connections: 64, durationS: 10, rounds: 3 },
  rows,
  revocation,
  prep: {},
  server_log: {},
  wall_s: 1,
});

const met = (d: ApiLoadData) => Object.fromEntries(targets(d).map((t) => [t.what, t.met]));

describe('api-load targets', () => {
  const peers = [row(ROW.durableGet, 2000, 100), row(ROW.devGet, 2500, 80), row(ROW.durablePut, 900, 150)];

  it('are met when GET beats 1.5× raft+audit and dev, PUT beats raft+audit, and revocation is fast', () => {
    const d = data([row(ROW.get, 3000, 90), ...peers, row(ROW.put, 900, 150)], [probe(200), probe(400)]);
    expect(Object.values(met(d))).toEqual([true, true, true, true, true, true]);
  });

  it('are not met one by one when a bound is missed', () => {
    const d = data([row(ROW.get, 2999, 101), ...peers, row(ROW.put, 899, 151)], [probe(200), probe(1000)]);
    expect(met(d)).toEqual({
      'GET req/s ≥ 1.5× OpenBao raft+audit': false,
      'GET req/s ≥ 1.0× OpenBao dev': true,
      'GET p99 ≤ OpenBao raft+audit p99': false,
      'PUT req/s ≥ 1.0× OpenBao raft+audit': false,
      'PUT p99 ≤ OpenBao raft+audit p99': false,
      'revocation on replica A refused by replica B under load < 1000 ms': false,
    });
  });

  it('count a revocation never refused, or served again after a refusal, as not met', () => {
    const rows = [row(ROW.get, 3000, 90), ...peers, row(ROW.put, 900, 150)];
    const rev = (r: RevocationResult) => targets(data(rows, [r])).at(-1);
    expect(rev(probe(null))).toMatchObject({
      met: false,
      measured: expect.stringContaining('never refused'),
    });
    expect(rev(probe(100, { served_after_refusal: 1 }))?.met).toBe(false);
    expect(rev(probe(100, { reads_before: 0 }))?.met).toBe(false);
  });
});

describe('api-load report', () => {
  it('renders the ratios against both peers and the targets', () => {
    const rows = [row(ROW.get, 3000, 90), row(ROW.durableGet, 2000, 100), row(ROW.devGet, 2500, 80)];
    rows[0] = { ...rows[0], baselines: { 'raft+audit': ROW.durableGet, dev: ROW.devGet } } as ApiLoadRow;
    const md = renderApiLoad(data(rows, [probe(250)]));
    expect(md).toContain('| × raft+audit req/s | × raft+audit p99 | × dev req/s | × dev p99 |');
    expect(md).toContain(
      '| oneclaw GET | 64 | 3 × 10 | 3000 | 45 | 90 | 180 | 0 | 0 | 1.5 | 0.9 | 1.2 | 1.13 |',
    );
    expect(md).toContain('| GET req/s ≥ 1.5× OpenBao raft+audit | 3000 vs 2000 req/s = 1.5× | met |');
    expect(md).toContain('| 1 | 250 | 200 | 403 | 10 | 0 | {} |');
  });

  it('renders a run from before the durable peer (one baseline, no revocation or durability)', () => {
    const old = { ...row('oneclaw GET, token cache on', 590, 189), baseline: 'OpenBao KV v2 GET' };
    const md = renderApiLoad({
      ...data([old, row('OpenBao KV v2 GET', 2915, 114)], []),
      revocation: undefined,
    });
    expect(md).toContain('| × peer req/s | × peer p99 |');
    expect(md).toContain('| 0.202 | 1.66 |');
    expect(md).not.toContain('Targets:');
  });
});
