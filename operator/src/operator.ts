// The composition root of `oneclaw operator`: identities (its own, and each SecretSync's service
// account), the two controllers, the change-feed followers, rollout restarts, leader election
// (only the leader reconciles; metrics and probes run on every replica) and the metrics server.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Histogram, Registry } from 'prom-client';
import { matchesPath } from '../../common/src/path-glob.js';
import {
  API_VERSION,
  KIND_SYNC,
  type OneclawVault,
  PLURAL_SYNCS,
  PLURAL_VAULTS,
  type SecretSync,
  SYNC_LABEL,
} from './apis/v1alpha1/types.js';
import type { OperatorConfig } from './config.js';
import { createVaultReconciler } from './controllers/oneclawvault/reconciler.js';
import { createFeedFollowers } from './controllers/secretsync/feed.js';
import { createSyncReconciler } from './controllers/secretsync/reconciler.js';
import { createRestarter } from './controllers/secretsync/restarts.js';
import { createIdentities, principalOf } from './identity.js';
import {
  type Controller,
  createController,
  generationChanged,
  keyOf,
  ownerKeys,
  ownKey,
} from './runtime/controller.js';
import { createEventRecorder } from './runtime/events.js';
import { createLeaderElector, type LeaderElector } from './runtime/leader.js';

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

/** How long a successful API check counts towards readiness (the chart probes every 10 s). */
const API_FRESH_MS = 15_000;
/** Below the chart's probe timeout (3 s), so a hanging API fails the check, not the probe. */
const API_CHECK_TIMEOUT_MS = 2_000;

/** One leadership's controllers, for readiness (a standby has none). */
interface Term {
  controllers: Controller[];
  failed: boolean;
}

const collection = (plural: string, namespace?: string) =>
  namespace ? `/apis/${API_VERSION}/namespaces/${namespace}/${plural}` : `/apis/${API_VERSION}/${plural}`;

/** Whether a SecretSync's data or dataFrom covers a secret path. */
export function readsPath(sync: SecretSync, path: string): boolean {
  return (
    (sync.spec.data ?? []).some((d) => d.path === path) ||
    (sync.spec.dataFrom ?? []).some((d) => matchesPath(d.path, path))
  );
}

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const { config, kubeConfig } = opts;
  const logger = opts.logger.child({ component: 'operator' });
  const registry = new Registry();
  const propagation = new Histogram({
    name: 'oneclaw_operator_sync_propagation_seconds',
    help: 'From a change-feed event to the Kubernetes Secret written',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });
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
  const events = createEventRecorder({ kubeConfig, component: 'oneclaw-operator', logger });

  /** Controllers live while this replica leads; a new leadership builds them afresh. */
  const runControllers = async (term: Term): Promise<() => Promise<void>> => {
    // Per SecretSync: when the first feed event it has not yet synced arrived.
    const pendingSince = new Map<string, number>();
    let syncs: Controller | undefined;
    const feed = createFeedFollowers({
      api: identities.operator,
      logger,
      enqueue: (k, path) => {
        // Only the SecretSyncs that read the path the event names.
        const sync = syncs?.cache<SecretSync>(0).get(k.namespace, k.name);
        if (path !== null && sync && !readsPath(sync, path)) return;
        const id = keyOf(k);
        if (!pendingSince.has(id)) pendingSince.set(id, Date.now());
        syncs?.enqueue(k);
      },
    });
    const restarts = createRestarter({
      kubeConfig,
      logger,
      events,
      ...(opts.restartDebounceMs ? { debounceMs: opts.restartDebounceMs } : {}),
    });
    const common = {
      kubeConfig,
      logger,
      metrics: registry,
      concurrency: config.concurrency,
      // Stopping fires every reconcile's signal; what still runs after this is cut off, so a
      // leader that lost its Lease is done before another replica may take over.
      stopTimeoutMs: (opts.leaseDurationMs ?? 15_000) - (opts.renewDeadlineMs ?? 10_000),
      ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
    };
    const vaultCtl: Controller = createController({
      ...common,
      name: 'oneclawvault',
      watches: [
        {
          path: collection(PLURAL_VAULTS, config.watchNamespace),
          keysFor: ownKey,
          shouldEnqueueUpdate: generationChanged,
        },
      ],
      reconciler: { reconcile: (key, ctx) => reconcileVault.reconcile(key, ctx) },
    });
    const reconcileVault = createVaultReconciler({
      kubeConfig,
      api: identities.operator,
      cache: vaultCtl.cache<OneclawVault>(0),
      events,
    });
    const syncCtl: Controller = createController({
      ...common,
      name: 'secretsync',
      watches: [
        {
          path: collection(PLURAL_SYNCS, config.watchNamespace),
          keysFor: ownKey,
          shouldEnqueueUpdate: generationChanged,
        },
        {
          // A vault's status (its id) or access changed: its SecretSyncs re-read.
          path: collection(PLURAL_VAULTS, config.watchNamespace),
          keysFor: (v) =>
            syncCtl
              .cache<SecretSync>(0)
              .list(v.metadata?.namespace)
              .filter((s) => s.spec.vaultRef.name === v.metadata?.name)
              .flatMap(ownKey),
        },
        // Only the Secrets the operator made: edits and deletions by hand are repaired.
        {
          path: config.watchNamespace
            ? `/api/v1/namespaces/${config.watchNamespace}/secrets`
            : '/api/v1/secrets',
          labelSelector: SYNC_LABEL,
          keysFor: ownerKeys(KIND_SYNC, API_VERSION),
        },
      ],
      reconciler: {
        reconcile: (key, ctx) => reconcileSync.reconcile(key, ctx),
      },
    });
    syncs = syncCtl;
    term.controllers.push(vaultCtl, syncCtl);
    const reconcileSync = createSyncReconciler({
      kubeConfig,
      identities,
      syncs: syncCtl.cache<SecretSync>(0),
      vaults: syncCtl.cache<OneclawVault>(1),
      events,
      feed,
      restarts,
      onSynced: (s, changed) => {
        const id = keyOf({ namespace: s.metadata.namespace as string, name: s.metadata.name as string });
        const since = pendingSince.get(id);
        pendingSince.delete(id);
        if (since !== undefined && changed) propagation.observe((Date.now() - since) / 1000);
      },
    });
    await vaultCtl.start();
    await syncCtl.start();
    logger.info('controllers started');
    return async () => {
      await Promise.all([vaultCtl.stop(), syncCtl.stop()]);
      await feed.stop();
      restarts.stop();
    };
  };

  let stopControllers: Promise<() => Promise<void>> | undefined;
  let term: Term | undefined;
  const lead = () => {
    const t: Term = { controllers: [], failed: false };
    term = t;
    stopControllers = runControllers(t).catch((err: unknown) => {
      t.failed = true;
      logger.error({ err: { message: (err as Error).message } }, 'controllers failed to start');
      return async () => {};
    });
  };
  const unlead = async () => {
    const stopping = stopControllers;
    stopControllers = undefined;
    term = undefined;
    if (stopping) await (await stopping)();
  };

  let elector: LeaderElector | undefined;
  if (config.leaderElection) {
    elector = createLeaderElector({
      kubeConfig,
      namespace: config.namespace,
      name: 'oneclaw-operator',
      identity: opts.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`,
      logger,
      onStartedLeading: lead,
      onStoppedLeading: () => unlead(),
      ...(opts.leaseDurationMs ? { leaseDurationMs: opts.leaseDurationMs } : {}),
      ...(opts.renewDeadlineMs ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
      ...(opts.retryPeriodMs ? { retryPeriodMs: opts.retryPeriodMs } : {}),
    });
    elector.start();
  } else {
    lead();
    await stopControllers;
  }

  const isLeader = () => (elector ? elector.isLeader() : true);

  // The API answered /healthz within API_FRESH_MS; one check at a time, however many probes ask.
  const doFetch = opts.fetch ?? fetch;
  let apiOkAt = Number.NEGATIVE_INFINITY;
  let apiCheck: Promise<boolean> | undefined;
  const checkApi = async (): Promise<boolean> => {
    try {
      const res = await doFetch(`${opts.apiUrl}/healthz`, {
        signal: AbortSignal.timeout(API_CHECK_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) apiOkAt = Date.now();
      return res.ok;
    } catch {
      return false;
    }
  };
  const apiReachable = (): Promise<boolean> => {
    if (Date.now() - apiOkAt < API_FRESH_MS) return Promise.resolve(true);
    apiCheck ??= checkApi().finally(() => {
      apiCheck = undefined;
    });
    return apiCheck;
  };

  // Readiness does not depend on leadership: leader election gates the controllers only, and a
  // standby must count as available (a rollout waits for it; it takes over at once). A leader is
  // ready once its informer caches are filled, so it reconciles from a complete view.
  const notReady = async (): Promise<string[]> => {
    const problems: string[] = [];
    if (isLeader()) {
      if (term?.failed) problems.push('controllers failed to start');
      else if (!term?.controllers.length || !term.controllers.every((c) => c.hasSynced()))
        problems.push('informer caches not synced');
    }
    if (!(await apiReachable())) problems.push(`API ${opts.apiUrl} unreachable`);
    return problems;
  };

  const json = { 'content-type': 'application/json' };
  const server: Server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === '/healthz') {
      // Liveness: answering at all shows the process is up and its event loop turning. Nothing
      // outside the process counts, or an API outage would restart every replica.
      res.writeHead(200, json).end('{"status":"ok"}');
    } else if (req.url === '/readyz') {
      notReady().then(
        (problems) =>
          problems.length
            ? res.writeHead(503, json).end(JSON.stringify({ status: 'not_ready', problems }))
            : res.writeHead(200, json).end('{"status":"ready"}'),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) =>
    server.listen(config.metricsListen.port, config.metricsListen.host, resolve),
  );
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.metricsListen.port;

  return {
    metricsUrl: `http://${config.metricsListen.host}:${port}`,
    isLeader,
    registry,
    async stop() {
      if (elector) await elector.stop();
      await unlead();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
