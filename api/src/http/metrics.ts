// Prometheus metrics for the API: request durations by route template and status (never by
// raw URL, which would carry secret paths), plus the pool's gauges. KMS and KEK-cache metrics
// register into the same registry from kms/metrics.ts.
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';

export function registerHttpMetrics(app: FastifyInstance, registry: Registry, pool: pg.Pool): void {
  collectDefaultMetrics({ register: registry, prefix: 'oneclaw_' });
  const duration = new Histogram({
    name: 'oneclaw_http_request_duration_seconds',
    help: 'HTTP request durations by method, route template and status code.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const poolGauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  poolGauge('oneclaw_db_pool_connections', 'Open database connections.', () => pool.totalCount);
  poolGauge('oneclaw_db_pool_idle', 'Idle database connections.', () => pool.idleCount);
  poolGauge('oneclaw_db_pool_waiting', 'Queries waiting for a database connection.', () => pool.waitingCount);

  app.addHook('onResponse', async (req, reply) => {
    duration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
}
