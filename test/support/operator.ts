// The operator for a test: its API settings (Kubernetes token review against the test control
// plane, the operator's service account as org admin) and a replica serving one namespace with
// short leader-election timings.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import {
  API_VERSION,
  GROUP,
  type OneclawVault,
  type OneclawVaultSpec,
  PLURAL_VAULTS,
  VERSION,
} from '../../operator/src/apis/v1alpha1/types.js';
import { type RunningOperator, startOperator } from '../../operator/src/operator.js';
import type { TestApi } from './api.js';
import { eventually } from './eventually.js';
import type { KubeIdentities } from './kube-identity.js';
import type { KubeInfo } from './peers/kube.js';

export const OPERATOR_ACCOUNT = 'oneclaw-operator';

/** Environment for startTestApi: workloads of `kube` authenticate, the operator is an admin. */
export function operatorApiEnv(info: KubeInfo, kube: KubeIdentities): Record<string, string> {
  return {
    ONECLAW_K8S_AUTH: 'tokenreview',
    ONECLAW_K8S_KUBECONFIG: info.kubeconfig,
    ONECLAW_K8S_AUDIENCE: 'oneclaw',
    ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: kube.username(OPERATOR_ACCOUNT),
    ONECLAW_AUTH_RATE_LIMIT: '0',
  };
}

export function startTestOperator(o: {
  api: TestApi;
  kube: KubeIdentities;
  kubeConfig: KubeConfig;
  identity?: string;
  concurrency?: number;
  /** The API's org admins as the operator is told them (its own account is refused regardless). */
  adminServiceAccounts?: string[];
  resyncMs?: number;
  /** The rollout-restart debounce window; default 500 ms. */
  restartDebounceMs?: number;
  /** The operator's fetch for API calls (a test may delay or observe them). */
  fetch?: typeof fetch;
}): Promise<RunningOperator> {
  const apiUrl = o.api.server.url as string;
  return startOperator({
    config: {
      apiUrl,
      namespace: o.kube.namespace,
      serviceAccount: OPERATOR_ACCOUNT,
      tokenFile: undefined,
      audience: 'oneclaw',
      metricsListen: { host: '127.0.0.1', port: 0 },
      leaderElection: true,
      concurrency: o.concurrency ?? 4,
      watchNamespace: o.kube.namespace,
      ...(o.adminServiceAccounts ? { adminServiceAccounts: o.adminServiceAccounts } : {}),
    },
    kubeConfig: o.kubeConfig,
    logger: pino({ level: 'silent' }),
    apiUrl,
    ...(o.identity ? { identity: o.identity } : {}),
    leaseDurationMs: 4_000,
    renewDeadlineMs: 3_000,
    retryPeriodMs: 300,
    restartDebounceMs: o.restartDebounceMs ?? 500,
    ...(o.resyncMs !== undefined ? { resyncMs: o.resyncMs } : {}),
    ...(o.fetch ? { fetch: o.fetch } : {}),
  });
}

/** Creates a OneclawVault and waits until the operator has recorded its API vault; returns the vault id. */
export async function createReadyVault(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  spec: OneclawVaultSpec,
): Promise<string> {
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const crd = { group: GROUP, version: VERSION, namespace, plural: PLURAL_VAULTS };
  await custom.createNamespacedCustomObject({
    ...crd,
    body: { apiVersion: API_VERSION, kind: 'OneclawVault', metadata: { name, namespace }, spec },
  });
  return eventually(`vault id of ${namespace}/${name}`, async () => {
    const v = (await custom.getNamespacedCustomObject({ ...crd, name })) as OneclawVault;
    return v.status?.vaultId;
  });
}
