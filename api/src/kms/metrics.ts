// KMS call counters. They use prom-client so the API can export them as they are; tests read
// them through `callCount`.
import { Counter, Histogram, type Registry } from 'prom-client';

export interface KmsMetrics {
  calls: Counter<'backend' | 'operation' | 'outcome'>;
  duration: Histogram<'backend' | 'operation'>;
  cache: Counter<'result'>;
}

export function createKmsMetrics(registry?: Registry): KmsMetrics {
  const registers = registry ? [registry] : [];
  return {
    calls: new Counter({
      name: 'oneclaw_kms_calls_total',
      help: 'Calls to the KMS backend, by backend, operation (wrap, unwrap, sign) and outcome.',
      labelNames: ['backend', 'operation', 'outcome'],
      registers,
    }),
    duration: new Histogram({
      name: 'oneclaw_kms_call_duration_seconds',
      help: 'Duration of KMS backend calls, including retries.',
      labelNames: ['backend', 'operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    cache: new Counter({
      name: 'oneclaw_kek_cache_requests_total',
      help: 'KEK cache lookups by result (hit, miss, coalesced).',
      labelNames: ['result'],
      registers,
    }),
  };
}

/** Total calls of one operation on one backend, over every outcome. */
export async function callCount(m: KmsMetrics, backend: string, operation: string): Promise<number> {
  const data = await m.calls.get();
  return data.values
    .filter((v) => v.labels.backend === backend && v.labels.operation === operation)
    .reduce((sum, v) => sum + v.value, 0);
}
