// What the operator's suites share (not shipped: imported by *.test.ts only): the real API and
// a namespace of the suite's own on the shared control plane, with helpers to create and read
// the custom resources and Secrets; and a proxy in front of the apiserver that records every
// write the operator makes.
import { createServer, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { AppsV1Api, CustomObjectsApi, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { expect } from 'vitest';
import { startTestApi, type TestApi } from '../../test/support/api.js';
import { installCrds } from '../../test/support/crds.js';
import { kubeConfigFor, sharedPeer } from '../../test/support/fixtures.js';
import { type KubeIdentities, kubeIdentities } from '../../test/support/kube-identity.js';
import {
  createReadyVault,
  OPERATOR_ACCOUNT,
  operatorApiEnv,
  startTestOperator,
} from '../../test/support/operator.js';
import type { KubeInfo } from '../../test/support/peers/kube.js';
import {
  API_VERSION,
  GROUP,
  KIND_SYNC,
  type OneclawVault,
  type OneclawVaultSpec,
  PLURAL_SYNCS,
  PLURAL_VAULTS,
  type SecretSync,
  VERSION,
} from './apis/v1alpha1/types.js';
import type { RunningOperator } from './operator.js';

export interface OperatorSuite {
  info: KubeInfo;
  kc: KubeConfig;
  custom: CustomObjectsApi;
  kube: KubeIdentities;
  ns: string;
  api: TestApi;
  createVault(name: string, spec: OneclawVaultSpec): Promise<unknown>;
  /** Creates a OneclawVault and waits for its vault id. */
  createReadyVault(name: string, spec: OneclawVaultSpec): Promise<string>;
  createSync(name: string, spec: SecretSync['spec']): Promise<unknown>;
  getVault(name: string): Promise<OneclawVault>;
  /** Replaces a OneclawVault or SecretSync of the namespace (optimistic: carries its resourceVersion). */
  replace<T extends OneclawVault | SecretSync>(obj: T): Promise<T>;
  getSync(name: string): Promise<SecretSync>;
  /** The Secret's data decoded, or undefined when it does not exist. */
  readSecret(name: string): Promise<Record<string, string> | undefined>;
  /** A Deployment to restart (there is no kubelet: its pods never run). */
  createDeployment(name: string): Promise<unknown>;
  /** Writes a secret through the API as the admin. */
  put(vaultId: string, path: string, value: string, type?: string): Promise<void>;
  /** A replica serving the suite's namespace, stopped by close(). */
  startOperator(o?: Partial<Parameters<typeof startTestOperator>[0]>): Promise<RunningOperator>;
  /**
   * The API first: closing it ends the operators' open change-feed long polls at once, which an
   * operator's own abort does not reach before the server's keep-alive timeout. Then the
   * operators, then the namespace.
   */
  close(): Promise<void>;
}

/**
 * The API (with Kubernetes token review, the operator's account an org admin; `env` adds to or
 * overrides its settings) and a namespace `prefix-…` holding the operator's service account and
 * `accounts`.
 */
export async function operatorSuite(
  prefix: string,
  accounts: string[],
  opts: { env?: (kube: KubeIdentities, info: KubeInfo) => Record<string, string> } = {},
): Promise<OperatorSuite> {
  const info = await sharedPeer('kube');
  await installCrds(info);
  const kc = kubeConfigFor(info.kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const kube = await kubeIdentities(info, prefix);
  const ns = kube.namespace;
  for (const sa of [OPERATOR_ACCOUNT, ...accounts]) await kube.createServiceAccount(sa);
  const api = await startTestApi(
    { ...operatorApiEnv(info, kube), ...opts.env?.(kube, info) },
    { listen: true },
  );
  const operators: RunningOperator[] = [];
  const crd = (plural: string) => ({ group: GROUP, version: VERSION, namespace: ns, plural });
  return {
    info,
    kc,
    custom,
    kube,
    ns,
    api,
    createVault: (name, spec) =>
      custom.createNamespacedCustomObject({
        ...crd(PLURAL_VAULTS),
        body: { apiVersion: API_VERSION, kind: 'OneclawVault', metadata: { name, namespace: ns }, spec },
      }),
    createReadyVault: (name, spec) => createReadyVault(kc, ns, name, spec),
    createSync: (name, spec) =>
      custom.createNamespacedCustomObject({
        ...crd(PLURAL_SYNCS),
        body: { apiVersion: API_VERSION, kind: 'SecretSync', metadata: { name, namespace: ns }, spec },
      }),
    getVault: (name) =>
      custom.getNamespacedCustomObject({ ...crd(PLURAL_VAULTS), name }) as Promise<OneclawVault>,
    replace: (obj) =>
      custom.replaceNamespacedCustomObject({
        ...crd(obj.kind === KIND_SYNC ? PLURAL_SYNCS : PLURAL_VAULTS),
        name: obj.metadata.name as string,
        body: obj,
      }),
    getSync: (name) =>
      custom.getNamespacedCustomObject({ ...crd(PLURAL_SYNCS), name }) as Promise<SecretSync>,
    async readSecret(name) {
      try {
        const s: V1Secret = await kube.core.readNamespacedSecret({ name, namespace: ns });
        return Object.fromEntries(
          Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
        );
      } catch {
        return undefined;
      }
    },
    createDeployment: (name) =>
      kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
        namespace: ns,
        body: {
          metadata: { name },
          spec: {
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: { containers: [{ name, image: 'busybox' }] },
            },
          },
        },
      }),
    async put(vaultId, path, value, type = 'password') {
      const res = await api.request({
        method: 'PUT',
        url: `/v1/vaults/${vaultId}/secrets/${path}`,
        payload: { type, value },
      });
      expect(res.statusCode).toBe(200);
    },
    async startOperator(o = {}) {
      const operator = await startTestOperator({ api, kube, kubeConfig: kc, ...o });
      operators.push(operator);
      return operator;
    },
    async close() {
      await api.close();
      for (const o of operators.splice(0)) await o.stop();
      await kube.cleanup();
    },
  };
}

export interface KubeWrite {
  method: string;
  /** The request path without its query. */
  path: string;
  /** The query string, without its `?`. */
  query: string;
  at: number;
}

export interface CountingKubeProxy {
  /** A KubeConfig with the same user whose requests go through the proxy. */
  kubeConfig: KubeConfig;
  /** Every request other than a GET (a read, list or watch) that went through, in order. */
  writes: KubeWrite[];
  /** Every request, reads, lists and watches included. */
  requests: KubeWrite[];
  close(): Promise<void>;
}

/**
 * A plain-HTTP proxy in front of the apiserver of `kc` that forwards everything (watches stream
 * through) and records the writes, so a suite can count what the operator changes.
 */
export async function countingKubeProxy(kc: KubeConfig): Promise<CountingKubeProxy> {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster || !user) throw new Error('kubeconfig has no current cluster or user');
  const upstream = new URL(cluster.server);
  const tls: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const writes: KubeWrite[] = [];
  const requests: KubeWrite[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    const seen = { method: req.method ?? '', path, query, at: Date.now() };
    requests.push(seen);
    if (req.method !== 'GET') writes.push(seen);
    const out = https.request(
      new URL(req.url ?? '/', upstream),
      { ...tls, method: req.method, headers: { ...tls.headers, ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'proxy', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [user],
    contexts: [{ name: 'proxy', cluster: 'proxy', user: user.name }],
    currentContext: 'proxy',
  });
  return {
    kubeConfig,
    writes,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
