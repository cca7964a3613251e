// The e2e installation on this machine: a private control plane (the uninstall deletes
// cluster-wide objects), the chart rendered with `helm template`, its CRDs and RBAC objects
// applied, and the API and the operator started as processes (`bin/oneclaw server|operator`)
// with the environment the chart's Deployments set. Each process talks to Kubernetes with a
// kubeconfig holding a token of the chart's own ServiceAccount (what the pod would mount), never
// the admin's, so a permission the chart lacks fails the suite.
//
// E2E_RBAC_MANIFEST (used by rbac-ablation.ts) names a YAML file applied instead of the chart's
// RBAC objects.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, loadAllYaml } from '@kubernetes/client-node';
import { generateApiKey } from '../../api/src/services/auth/api-keys.js';
import { kubeConfigFor, sharedPeer } from '../support/fixtures.js';
import { auditSources, logFileSources, metricsSources } from '../support/leak-scan.js';
import { httpOk, makeWorkDir } from '../support/peers/common.js';
import { type KubeInfo, type KubePeer, startKube } from '../support/peers/kube.js';
import { createDatabase } from '../support/peers/postgres.js';
import { freePort } from '../support/ports.js';
import { type ManagedProcess, spawnManaged, waitFor } from '../support/proc.js';
import { repoRoot } from '../support/tools.js';
import {
  applyObjects,
  deleteObjects,
  isAdmissionPolicy,
  isCrd,
  isRbac,
  kubectl,
  type Manifest,
  RELEASE,
  RELEASE_NAMESPACE,
  renderForInstall,
  type Workload,
  workloadRunning,
} from './chart.js';
import { type E2eEnvironment, leakSourceCollector } from './environment.js';

function kubeconfigWithToken(info: KubeInfo, user: string, token: string): string {
  const ca = Buffer.from(info.caPem).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: ${info.server}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: e2e
  context:
    cluster: e2e
    user: ${user}
    namespace: ${RELEASE_NAMESPACE}
current-context: e2e
`;
}

/** The parent's environment without oneclaw's or Kubernetes' own settings. */
function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('ONECLAW_') && k !== 'KUBECONFIG'),
  );
}

/**
 * A rendered container's environment made runnable here: literal values as rendered, values the
 * pod reads from Secrets or mounted files supplied by the test, listen addresses on loopback.
 * Anything else the chart mounts or references fails loudly, so the chart and this stay in step.
 */
function processEnv(
  w: Workload,
  supplied: Record<string, string>,
  overrides: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(w.env)) env[k] = v;
  for (const k of w.fromSources) {
    if (!(k in supplied)) {
      throw new Error(
        `the chart's ${w.name} reads ${k} from a Secret or field the e2e suite does not supply`,
      );
    }
  }
  for (const [k, v] of Object.entries(supplied)) {
    if (k in env || w.fromSources.includes(k)) env[k] = v;
  }
  for (const [k, v] of Object.entries(env)) {
    if (v.startsWith('/') && !(k in supplied)) {
      throw new Error(`the chart's ${w.name} points ${k} at a mounted file the e2e suite does not supply`);
    }
  }
  return { ...env, ...overrides };
}

export async function startLocalInstall(): Promise<E2eEnvironment> {
  const work = makeWorkDir('e2e');
  const dir = work.dir;
  const procs: ManagedProcess[] = [];
  let kube: KubePeer | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  const close = async () => {
    for (const p of procs.reverse()) await p.stop('SIGTERM', 15_000);
    await dropDb?.().catch(() => {});
    await kube?.stop();
    if (!process.env.E2E_KEEP_WORKDIR) work.remove();
  };
  try {
    // OwnerReferencesPermissionEnforcement (on by default in OpenShift) makes the apiserver check
    // that whoever sets blockOwnerDeletion may update the owner's finalizers, so the chart's
    // `secretsyncs/finalizers` rule is exercised here rather than taken on trust.
    kube = await startKube({ admissionPlugins: ['OwnerReferencesPermissionEnforcement'] });
    const info = kube.info;
    const admin = info.kubeconfig;
    const objects = renderForInstall(info.version);
    const api = workloadRunning(objects, 'server');
    const operator = workloadRunning(objects, 'operator');
    const crds = objects.filter(isCrd);
    const rbac = process.env.E2E_RBAC_MANIFEST
      ? (loadAllYaml(readFileSync(process.env.E2E_RBAC_MANIFEST, 'utf8')) as Manifest[]).filter(Boolean)
      : objects.filter(isRbac);
    const admission = objects.filter(isAdmissionPolicy);

    // `helm install --create-namespace`: CRDs first (helm's crds/), then the chart's RBAC objects
    // and its SecretSync admission policy.
    await kubectl(admin, ['create', 'namespace', RELEASE_NAMESPACE]);
    await applyObjects(admin, crds);
    await kubectl(admin, [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      ...crds.map((c) => `crd/${c.metadata.name}`),
    ]);
    await applyObjects(admin, rbac);
    await applyObjects(admin, admission);

    // What the kubelet would mount: a token of the pod's ServiceAccount for the apiserver, and
    // the operator's projected token for the API's audience.
    const core = kubeConfigFor(admin).makeApiClient(CoreV1Api);
    const mint = async (sa: string, audiences: string[] | undefined, seconds = 7200) => {
      const res = await core.createNamespacedServiceAccountToken({
        namespace: RELEASE_NAMESPACE,
        name: sa,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: audiences ?? [], expirationSeconds: seconds },
        },
      });
      if (!res.status?.token) throw new Error(`TokenRequest for ${sa} returned no token`);
      return res.status.token;
    };
    const audience = api.env.ONECLAW_K8S_AUDIENCE ?? 'oneclaw';
    const apiKubeconfig = join(dir, 'api.kubeconfig');
    writeFileSync(
      apiKubeconfig,
      kubeconfigWithToken(info, api.serviceAccountName, await mint(api.serviceAccountName, undefined)),
      { mode: 0o600 },
    );
    const operatorKubeconfig = join(dir, 'operator.kubeconfig');
    writeFileSync(
      operatorKubeconfig,
      kubeconfigWithToken(
        info,
        operator.serviceAccountName,
        await mint(operator.serviceAccountName, undefined),
      ),
      { mode: 0o600 },
    );
    const operatorTokenFile = join(dir, 'operator-api-token');
    writeFileSync(operatorTokenFile, await mint(operator.serviceAccountName, [audience]), { mode: 0o600 });

    // The Secrets a user creates before `helm install`.
    const db = await createDatabase(await sharedPeer('postgres'));
    dropDb = () => db.drop();
    const masterKeyFile = join(dir, 'master-key');
    writeFileSync(masterKeyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    const signingKeyFile = join(dir, 'signing-key.pem');
    writeFileSync(
      signingKeyFile,
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
      { mode: 0o600 },
    );
    const adminApiKey = generateApiKey('user');

    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const apiProc = spawnManaged({
      name: 'oneclaw-api',
      command: join(repoRoot, 'bin/oneclaw'),
      args: ['server'],
      logFile: join(dir, 'api.log'),
      cwd: repoRoot,
      env: {
        ...inheritedEnv(),
        KUBECONFIG: apiKubeconfig,
        ...processEnv(
          api,
          {
            ONECLAW_DATABASE_URL: db.url,
            ONECLAW_LOCAL_MASTER_KEY_FILE: masterKeyFile,
            ONECLAW_SIGNING_KEY_FILE: signingKeyFile,
            ONECLAW_BOOTSTRAP_ADMIN_KEY: adminApiKey,
            ONECLAW_DATA_DIR: join(dir, 'api-data'),
          },
          { ONECLAW_LISTEN: `127.0.0.1:${apiPort}` },
        ),
      },
    });
    procs.push(apiProc);
    await waitFor('the API /readyz', () => httpOk(`${apiUrl}/readyz`), {
      process: apiProc,
      timeoutMs: 120_000,
      intervalMs: 250,
    });

    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    const operatorLog = join(dir, 'operator.log');
    let operatorProc: ManagedProcess | undefined = spawnManaged({
      name: 'oneclaw-operator',
      command: join(repoRoot, 'bin/oneclaw'),
      args: ['operator'],
      logFile: operatorLog,
      cwd: repoRoot,
      env: {
        ...inheritedEnv(),
        KUBECONFIG: operatorKubeconfig,
        ...processEnv(
          operator,
          {
            ONECLAW_OPERATOR_TOKEN_FILE: operatorTokenFile,
          },
          { ONECLAW_API_URL: apiUrl, ONECLAW_OPERATOR_METRICS_LISTEN: `127.0.0.1:${metricsPort}` },
        ),
      },
    });
    procs.push(operatorProc);
    await waitFor('the operator /readyz', () => httpOk(`${metricsUrl}/readyz`), {
      process: operatorProc,
      timeoutMs: 120_000,
      intervalMs: 250,
    });

    const chartObjects = objects
      .filter((o) => !isCrd(o))
      .map((o) => ({
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata.name,
        ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
      }));
    // /metrics and the audit log go with their process, so each is read just before it stops.
    const { captured, capture } = leakSourceCollector();
    const captureOperator = async () => {
      if (operatorProc?.isRunning()) {
        await capture('operator /metrics', () => metricsSources({ operator: metricsUrl }), 'metrics');
      }
    };
    const captureApi = async () => {
      if (!apiProc.isRunning()) return;
      await capture('API /metrics', () => metricsSources({ api: apiUrl }), 'metrics');
      await capture('audit log', () => auditSources(apiUrl, adminApiKey), 'audit');
    };
    const tail = (p: ManagedProcess | undefined) => (p ? `--- ${p.name} ---\n${p.tail(40)}\n` : '');

    return {
      mode: 'local',
      kubeconfig: admin,
      release: RELEASE,
      namespace: RELEASE_NAMESPACE,
      apiUrl,
      adminApiKey,
      audience,
      operatorServiceAccount: operator.serviceAccountName,
      apiServiceAccount: api.serviceAccountName,
      chartObjects,
      crdNames: crds.map((c) => c.metadata.name),
      apiReady: async () =>
        apiProc.isRunning() && (await httpOk(`${apiUrl}/readyz`).catch(() => false)) === true,
      operatorReady: async () =>
        !!operatorProc?.isRunning() && (await httpOk(`${metricsUrl}/readyz`).catch(() => false)) === true,
      async stopOperator() {
        await captureOperator();
        await operatorProc?.stop('SIGTERM', 35_000);
        operatorProc = undefined;
      },
      async uninstall() {
        await captureOperator();
        await captureApi();
        await operatorProc?.stop('SIGTERM', 35_000);
        await apiProc.stop('SIGTERM', 15_000);
        // helm uninstall deletes every object of the release except CRDs (helm keeps crds/).
        await deleteObjects(admin, [...admission, ...rbac]);
      },
      logs: () => tail(apiProc) + tail(operatorProc ?? procs.find((p) => p.name === 'oneclaw-operator')),
      async leakSources() {
        await captureOperator();
        await captureApi();
        return {
          logs: logFileSources([apiProc.logFile, operatorLog]),
          metrics: { ...captured.metrics },
          audit: { ...captured.audit },
          problems: [...captured.problems],
        };
      },
      close,
    };
  } catch (err) {
    const logs = procs.map((p) => `--- ${p.name} ---\n${p.tail(40)}`).join('\n');
    await close();
    throw logs ? new Error(`${(err as Error).message}\n${logs}`) : err;
  }
}
