// The composition root of `oneclaw operator`: its identities (its own, and each SecretSync's
// service account), the two controllers, leader election (only the leader reconciles; metrics
// and probes run on every replica) and the metrics and probe server.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { OperatorConfig } from './config.js';
import { oneclawVaultController } from './controllers/oneclawvault/controller.js';
import { secretSyncController, syncPropagationMetric } from './controllers/secretsync/controller.js';
import { startHealthServer } from './health.js';
import { createIdentities, principalOf } from './identity.js';
import { createEventRecorder } from './runtime/events.js';
import { createManager, runWhileLeading } from './runtime/manager.js';
import { droppedEventsMetric, rolloutRestartsMetric } from './runtime/metrics.js';

export interface RunningOperator {
  /** Base URL of /metrics, /healthz and /readyz. */
  metricsUrl: string;
  isLeader(): boolean;
  registry: Registry;
  stop(): Promise<void>;
}

export interface OperatorOptions {
  config: OperatorConfig;
  kubeConfig: KubeConfig;
  logger: Logger;
  /** The API's base URL (the embedded API's, with --embedded-api). */
  apiUrl: string;
  /** This replica's name in the Lease (default: host name + random suffix). */
  identity?: string;
  /** Timings, shortened by tests. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  resyncMs?: number;
  restartDebounceMs?: number;
  fetch?: typeof fetch;
}

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const { config, kubeConfig } = opts;
  const logger = opts.logger.child({ component: 'operator' });
  const registry = new Registry();
  const propagation = syncPropagationMetric(registry);
  const restartsTotal = rolloutRestartsMetric(registry);
  const identities = createIdentities({
    kubeConfig,
    apiUrl: opts.apiUrl,
    audience: config.audience,
    self: config.tokenFile
      ? { tokenFile: config.tokenFile }
      : { namespace: config.namespace, serviceAccount: config.serviceAccount },
    adminServiceAccounts: [
      principalOf(config.namespace, config.serviceAccount),
      ...(config.adminServiceAccounts ?? []),
    ],
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  const dropped = droppedEventsMetric(registry);
  const events = createEventRecorder({
    kubeConfig,
    component: 'oneclaw-operator',
    logger,
    // One per SecretSync synced: at scale, the Events that cost the apiserver most.
    droppable: new Set(['SecretCreated', 'SecretUpdated']),
    onDropped: (reason) => dropped.inc({ reason }),
  });
  const leaseDurationMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;

  const leadership = await runWhileLeading({
    logger,
    newManager: () =>
      createManager({
        kubeConfig,
        logger,
        metrics: registry,
        ...(config.watchNamespace ? { namespace: config.watchNamespace } : {}),
        concurrency: config.concurrency,
        // Stopping fires every reconcile's signal; what still runs after this is cut off, so a
        // leader that lost its Lease is done before another replica may take over.
        stopTimeoutMs: leaseDurationMs - renewDeadlineMs,
        ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
        controllers: [
          oneclawVaultController({ kubeConfig, api: identities.operator, events }),
          secretSyncController({
            kubeConfig,
            logger,
            identities,
            events,
            propagation,
            restartsTotal,
            ...(opts.restartDebounceMs ? { restartDebounceMs: opts.restartDebounceMs } : {}),
          }),
        ],
      }),
    ...(config.leaderElection
      ? {
          election: {
            kubeConfig,
            namespace: config.namespace,
            name: 'oneclaw-operator',
            identity: opts.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`,
            leaseDurationMs,
            renewDeadlineMs,
            ...(opts.retryPeriodMs ? { retryPeriodMs: opts.retryPeriodMs } : {}),
          },
        }
      : {}),
  });

  const health = await startHealthServer({
    listen: config.metricsListen,
    registry,
    apiUrl: opts.apiUrl,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    problems: () => leadership.problems(),
  });

  return {
    metricsUrl: health.url,
    isLeader: () => leadership.isLeader(),
    registry,
    async stop() {
      await leadership.stop();
      await health.close();
    },
  };
}
