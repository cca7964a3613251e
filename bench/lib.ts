// Small measuring kit for bench/: per-operation latencies (median, p99) and throughput of a
// sequential loop, after a warm-up. Sequential on purpose: on a 2-core machine, latency of one
// caller is what the numbers mean; concurrency benchmarks say so in their names.

export interface Measurement {
  name: string;
  iterations: number;
  median_us: number;
  p99_us: number;
  ops_per_s: number;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export async function measure(
  name: string,
  op: (i: number) => unknown,
  opts: { iterations: number; warmup?: number },
): Promise<Measurement> {
  for (let i = 0; i < (opts.warmup ?? Math.ceil(opts.iterations / 10)); i++) await op(i);
  const samples: number[] = new Array(opts.iterations);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < opts.iterations; i++) {
    const s = process.hrtime.bigint();
    await op(i);
    samples[i] = Number(process.hrtime.bigint() - s) / 1_000;
  }
  const totalS = Number(process.hrtime.bigint() - t0) / 1e9;
  samples.sort((a, b) => a - b);
  return {
    name,
    iterations: opts.iterations,
    median_us: round(percentile(samples, 0.5)),
    p99_us: round(percentile(samples, 0.99)),
    ops_per_s: Math.round(opts.iterations / totalS),
  };
}

const round = (n: number) => Math.round(n * 10) / 10;

export function table(rows: Measurement[], baseline?: Measurement): string {
  const head = `| benchmark | iterations | median µs | p99 µs | ops/s |${baseline ? ` × ${baseline.name} (median) |` : ''}`;
  const sep = `|---|---:|---:|---:|---:|${baseline ? '---:|' : ''}`;
  const lines = rows.map((r) => {
    const ratio = baseline ? ` ${Number((r.median_us / baseline.median_us).toPrecision(3))} |` : '';
    return `| ${r.name} | ${r.iterations} | ${r.median_us} | ${r.p99_us} | ${r.ops_per_s} |${ratio}`;
  });
  return [head, sep, ...lines].join('\n');
}

/** What a section is given besides its peers: its settings and where its progress lines go. */
export interface SectionOptions<S> {
  /** Default: read from the environment. */
  settings?: S;
  /** Default: stderr, each line tagged with the section. */
  log?: (line: string) => void;
}

/** Where a section's progress lines go: the caller's `log`, else stderr tagged `[tag]`. */
export function sectionLog(tag: string, log: SectionOptions<unknown>['log']): (line: string) => void {
  return log ?? ((line: string) => console.error(`[${tag}] ${line}`));
}

/** One fixed-duration HTTP load run (autocannon), or the median of several rounds of it. */
export interface LoadMeasurement {
  name: string;
  /**
   * Rows whose req/s and p99 the ratio columns divide by, by column label (the peers doing the
   * same operation).
   */
  baselines?: Record<string, string>;
  /** The one peer row of reports written before `baselines`. */
  baseline?: string;
  connections: number;
  duration_s: number;
  rounds: number;
  /** 2xx responses per second. */
  req_per_s: number;
  /** Latency of 2xx responses, milliseconds (autocannon's histogram has 1 ms resolution). */
  p50_ms: number;
  p99_ms: number;
  p99_9_ms: number;
  /** Connection errors (including timeouts), summed over the rounds. */
  errors: number;
  /** Non-2xx responses, summed over the rounds, with their status codes. */
  non2xx: number;
  statuses: Record<string, number>;
}

export const ratio = (a: number, b: number | undefined) =>
  b === undefined || !b ? '—' : String(Number((a / b).toPrecision(3)));

const baselinesOf = (r: LoadMeasurement): Record<string, string> =>
  r.baselines ?? (r.baseline ? { peer: r.baseline } : {});

/**
 * The load table: per row, req/s and latency percentiles, and both against each of the row's
 * baselines (one pair of ratio columns per baseline label).
 */
export function loadTable(rows: LoadMeasurement[]): string {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const labels = [...new Set(rows.flatMap((r) => Object.keys(baselinesOf(r))))];
  const head =
    '| benchmark | conns | rounds × s | req/s (2xx) | p50 ms | p99 ms | p99.9 ms | errors | non-2xx |' +
    labels.map((l) => ` × ${l} req/s | × ${l} p99 |`).join('');
  const sep = `|---|---:|---:|---:|---:|---:|---:|---:|---:|${labels.map(() => '---:|---:|').join('')}`;
  const lines = rows.map((r) => {
    const codes = Object.entries(r.statuses)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, n]) => `${code}: ${n}`)
      .join(', ');
    const ratios = labels.map((l) => {
      const name = baselinesOf(r)[l];
      const b = name === undefined || name === r.name ? undefined : byName.get(name);
      return ` ${ratio(r.req_per_s, b?.req_per_s)} | ${ratio(r.p99_ms, b?.p99_ms)} |`;
    });
    return (
      `| ${r.name} | ${r.connections} | ${r.rounds} × ${r.duration_s} | ${r.req_per_s} | ${r.p50_ms} | ${r.p99_ms} | ${r.p99_9_ms} | ` +
      `${r.errors} | ${r.non2xx}${codes ? ` (${codes})` : ''} |${ratios.join('')}`
    );
  });
  return [head, sep, ...lines].join('\n');
}
