// The e2e installation in a kind cluster made by hack/kind-up.sh: the chart installed with
// `helm install`, the image built and loaded, PostgreSQL in the cluster. The suite reaches the
// API through `kubectl port-forward`; stopping the operator scales it to zero; uninstalling is
// `helm uninstall`. Settings come from the environment kind-up.sh prints:
//   KUBECONFIG            the kind cluster's kubeconfig (kind-up.sh writes .scratch/kind/kubeconfig)
//   E2E_NAMESPACE         the release namespace (default oneclaw-system)
//   E2E_RELEASE           the release name (default oneclaw)
//   E2E_ADMIN_KEY_FILE    the bootstrap admin key kind-up.sh generated (default .scratch/kind/admin-key)
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAllYaml } from '@kubernetes/client-node';
import { auditSources, metricsSources } from '../support/leak-scan.js';
import { httpOk, makeWorkDir } from '../support/peers/common.js';
import { freePort } from '../support/ports.js';
import { type ManagedProcess, spawnManaged, waitFor } from '../support/proc.js';
import { repoRoot, tools } from '../support/tools.js';
import { isCrd, kubectl, type Manifest } from './chart.js';
import { type E2eEnvironment, leakSourceCollector } from './environment.js';

export async function connectKind(): Promise<E2eEnvironment> {
  const kubeconfig = process.env.KUBECONFIG ?? join(repoRoot, '.scratch/kind/kubeconfig');
  const namespace = process.env.E2E_NAMESPACE ?? 'oneclaw-system';
  const release = process.env.E2E_RELEASE ?? 'oneclaw';
  const adminApiKey = readFileSync(
    process.env.E2E_ADMIN_KEY_FILE ?? join(repoRoot, '.scratch/kind/admin-key'),
    'utf8',
  ).trim();
  const work = makeWorkDir('e2e-kind');
  const k = (...args: string[]) => kubectl(kubeconfig, args);

  // What the release installed, as helm recorded it.
  const manifest = (
    loadAllYaml(
      (
        await run(tools.helm(), ['--kubeconfig', kubeconfig, 'get', 'manifest', release, '-n', namespace])
      ).toString(),
    ) as Array<Manifest | null>
  ).filter((o): o is Manifest => !!o?.kind);
  const deployment = (component: string) => {
    const d = manifest.find(
      (o) =>
        o.kind === 'Deployment' &&
        (o.metadata.labels as Record<string, string> | undefined)?.['app.kubernetes.io/component'] ===
          component,
    );
    if (!d) throw new Error(`release ${release} has no ${component} Deployment`);
    return d as Manifest & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        template: {
          spec: {
            serviceAccountName: string;
            containers: Array<{ env?: Array<{ name: string; value?: string }> }>;
          };
        };
      };
    };
  };
  const api = deployment('api');
  const operator = deployment('operator');
  const apiEnv = api.spec.template.spec.containers[0]?.env ?? [];
  const audience = apiEnv.find((e) => e.name === 'ONECLAW_K8S_AUDIENCE')?.value ?? 'oneclaw';
  await k('rollout', 'status', '-n', namespace, `deployment/${api.metadata.name}`, '--timeout=180s');
  await k('rollout', 'status', '-n', namespace, `deployment/${operator.metadata.name}`, '--timeout=180s');

  const apiService = manifest.find((o) => o.kind === 'Service' && o.metadata.name === api.metadata.name);
  if (!apiService) throw new Error(`release ${release} has no Service ${api.metadata.name}`);
  const port = await freePort();
  let forward: ManagedProcess | undefined = spawnManaged({
    name: 'kubectl port-forward',
    command: tools.kubectl(),
    args: [
      '--kubeconfig',
      kubeconfig,
      'port-forward',
      '-n',
      namespace,
      `service/${api.metadata.name}`,
      `${port}:http`,
    ],
    logFile: join(work.dir, 'port-forward.log'),
  });
  const apiUrl = `http://127.0.0.1:${port}`;
  await waitFor('the API through kubectl port-forward', () => httpOk(`${apiUrl}/readyz`), {
    process: forward,
    timeoutMs: 60_000,
  });

  const readyReplicas = async (name: string) =>
    Number(
      (await k('get', '-n', namespace, `deployment/${name}`, '-o', 'jsonpath={.status.readyReplicas}')) || 0,
    );

  // A pod's logs and /metrics go with the pod, so each component's are read just before it stops.
  const { captured, capture } = leakSourceCollector();
  const podLogs = async (d: typeof api) => ({
    [`log pods of deployment/${d.metadata.name}`]: await k(
      'logs',
      '-n',
      namespace,
      '-l',
      Object.entries(d.spec.selector.matchLabels)
        .map(([key, v]) => `${key}=${v}`)
        .join(','),
      '--all-containers',
      '--prefix',
      '--tail=-1',
      '--max-log-requests=20',
    ),
  });
  let operatorRunning = true;
  let apiRunning = true;
  const captureOperator = async () => {
    if (!operatorRunning) return;
    await capture('operator logs', () => podLogs(operator), 'logs');
    await capture(
      'operator /metrics',
      async () => ({
        'metrics operator': await k(
          'get',
          '--raw',
          `/api/v1/namespaces/${namespace}/services/${operator.metadata.name}-metrics:metrics/proxy/metrics`,
        ),
      }),
      'metrics',
    );
  };
  const captureApi = async () => {
    if (!apiRunning) return;
    await capture('API logs', () => podLogs(api), 'logs');
    await capture('API /metrics', () => metricsSources({ api: apiUrl }), 'metrics');
    await capture('audit log', () => auditSources(apiUrl, adminApiKey), 'audit');
  };

  return {
    mode: 'kind',
    kubeconfig,
    release,
    namespace,
    apiUrl,
    adminApiKey,
    audience,
    operatorServiceAccount: operator.spec.template.spec.serviceAccountName,
    apiServiceAccount: api.spec.template.spec.serviceAccountName,
    chartObjects: manifest
      .filter((o) => !isCrd(o))
      .map((o) => ({
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata.name,
        ...(o.metadata.namespace || !clusterScoped(o.kind)
          ? { namespace: o.metadata.namespace ?? namespace }
          : {}),
      })),
    crdNames: (JSON.parse(await k('get', 'crd', '-o', 'json')) as { items: Manifest[] }).items
      .filter((c) => c.metadata.name.endsWith('.oneclaw.dev'))
      .map((c) => c.metadata.name),
    apiReady: async () =>
      (await readyReplicas(api.metadata.name)) > 0 && (await httpOk(`${apiUrl}/readyz`)) === true,
    operatorReady: async () => (await readyReplicas(operator.metadata.name)) > 0,
    async stopOperator() {
      await captureOperator();
      operatorRunning = false;
      await k('scale', '-n', namespace, `deployment/${operator.metadata.name}`, '--replicas=0');
      await k(
        'wait',
        '-n',
        namespace,
        '--for=delete',
        'pod',
        '-l',
        'app.kubernetes.io/component=operator',
        '--timeout=120s',
      );
    },
    async uninstall() {
      await captureOperator();
      await captureApi();
      operatorRunning = false;
      apiRunning = false;
      await forward?.stop();
      forward = undefined;
      await run(tools.helm(), ['--kubeconfig', kubeconfig, 'uninstall', release, '-n', namespace, '--wait']);
    },
    logs: () =>
      `(see kubectl logs -n ${namespace} deployment/${operator.metadata.name} and deployment/${api.metadata.name})`,
    async leakSources() {
      await captureOperator();
      await captureApi();
      return {
        logs: { ...captured.logs },
        metrics: { ...captured.metrics },
        audit: { ...captured.audit },
        problems: [...captured.problems],
      };
    },
    async close() {
      await forward?.stop();
      work.remove();
    },
  };
}

const clusterScoped = (kind: string) =>
  [
    'ClusterRole',
    'ClusterRoleBinding',
    'CustomResourceDefinition',
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding',
  ].includes(kind);

async function run(command: string, args: string[]): Promise<string> {
  return (await promisify(execFile)(command, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
}
