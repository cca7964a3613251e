// Whose identity the operator uses for what. It manages vaults and grants as itself (its own
// service account, an org admin in the API by configuration), and reads secrets for a
// SecretSync only as the SecretSync's service account: it mints a short-lived, audience-bound
// token for that account with the TokenRequest API and exchanges it at /v1/auth/k8s-token, so
// a SecretSync can never read more than its service account is granted.
import { readFile } from 'node:fs/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import { createClient, type OneclawClient } from '../../sdk/src/index.js';

export interface Identities {
  /** The operator's own client (org admin). */
  operator: OneclawClient;
  /** A client that acts as `namespace/serviceAccount`. */
  as(namespace: string, serviceAccount: string): OneclawClient;
}

/** Mints an audience-bound token for a service account (TokenRequest; 10 minutes, the API minimum allowed). */
export function tokenMinter(kubeConfig: KubeConfig, audience: string) {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return async (namespace: string, name: string): Promise<string> => {
    const res = await core.createNamespacedServiceAccountToken({
      namespace,
      name,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: [audience], expirationSeconds: 600 },
      },
    });
    const token = res.status?.token;
    if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
    return token;
  };
}

export function createIdentities(opts: {
  kubeConfig: KubeConfig;
  apiUrl: string;
  audience: string;
  /** How the operator proves who it is: a projected token file, or its own account (TokenRequest). */
  self: { tokenFile: string } | { namespace: string; serviceAccount: string };
  fetch?: typeof fetch;
}): Identities {
  const mint = tokenMinter(opts.kubeConfig, opts.audience);
  const client = (kubernetesToken: () => Promise<string>) =>
    createClient({
      baseUrl: opts.apiUrl,
      credentials: { kubernetesToken },
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
  const self = opts.self;
  const operator = client(
    'tokenFile' in self
      ? async () => (await readFile(self.tokenFile, 'utf8')).trim()
      : () => mint(self.namespace, self.serviceAccount),
  );
  // One client per service account, so its access token is reused until it nears expiry.
  const clients = new LRUCache<string, OneclawClient>({ max: 5_000, ttl: 3_600_000 });
  return {
    operator,
    as(namespace, serviceAccount) {
      const key = `${namespace}/${serviceAccount}`;
      let c = clients.get(key);
      if (!c) {
        c = client(() => mint(namespace, serviceAccount));
        clients.set(key, c);
      }
      return c;
    },
  };
}
