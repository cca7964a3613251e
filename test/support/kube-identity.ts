// Service accounts and their tokens on the test control plane: a namespace of a suite's own,
// accounts in it, and audience-bound tokens minted by the real TokenRequest API.
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeConfigFor, uniqueName } from './fixtures.js';
import type { KubeInfo } from './peers/kube.js';

export interface KubeIdentities {
  namespace: string;
  core: CoreV1Api;
  /** Creates a service account; returns its uid. */
  createServiceAccount(name: string): Promise<string>;
  deleteServiceAccount(name: string): Promise<void>;
  /** A projected-style token for the account, bound to `audiences`. */
  mint(name: string, audiences: string[], expirationSeconds?: number): Promise<string>;
  /** "system:serviceaccount:<namespace>:<name>" */
  username(name: string): string;
  cleanup(): Promise<void>;
}

export async function kubeIdentities(kube: KubeInfo, prefix: string): Promise<KubeIdentities> {
  const core = kubeConfigFor(kube.kubeconfig).makeApiClient(CoreV1Api);
  const namespace = uniqueName(prefix);
  await core.createNamespace({
    body: { metadata: { name: namespace, labels: { 'oneclaw.dev/test': prefix } } },
  });
  return {
    namespace,
    core,
    async createServiceAccount(name) {
      const created = await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
      if (!created.metadata?.uid) throw new Error('service account has no uid');
      return created.metadata.uid;
    },
    async deleteServiceAccount(name) {
      await core.deleteNamespacedServiceAccount({ name, namespace });
    },
    async mint(name, audiences, expirationSeconds = 600) {
      const res = await core.createNamespacedServiceAccountToken({
        name,
        namespace,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences, expirationSeconds },
        },
      });
      if (!res.status?.token) throw new Error('TokenRequest returned no token');
      return res.status.token;
    },
    username: (name) => `system:serviceaccount:${namespace}:${name}`,
    async cleanup() {
      await core.deleteNamespace({ name: namespace }).catch(() => {});
    },
  };
}
