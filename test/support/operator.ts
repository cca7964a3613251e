// The operator for a test: its API settings (Kubernetes token review against the test control
// plane, the operator's service account as org admin) and a replica serving one namespace with
// short leader-election timings.
import type { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { type RunningOperator, startOperator } from '../../operator/src/operator.js';
import type { TestApi } from './api.js';
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
    restartDebounceMs: 500,
  });
}
