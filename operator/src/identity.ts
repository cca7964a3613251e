// Whose identity the operator uses for what. It manages vaults and grants as itself (its own
// service account, an org admin in the API by configuration), and reads secrets for a
// SecretSync only as the SecretSync's service account: it mints a short-lived, audience-bound
// token for that account with the TokenRequest API and exchanges it at /v1/auth/k8s-token, so
// a SecretSync can never read more than its service account is granted. It never acts for a
// SecretSync as an org admin of the API (its own account or a configured admin account): a
// SecretSync naming one would otherwise borrow the operator's privileges (a confused deputy).
import { readFile } from 'node:fs/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import { createClient, type OneclawClient } from '../../sdk/src/index.js';
import { currentReconcileSignal } from './runtime/controller.js';

export interface Identities {
  /** The operator's own client (org admin). */
  operator: OneclawClient;
  /**
   * A client that acts as `namespace/serviceAccount`; throws AdminIdentityError, before any
   * token is minted, for an org-admin account. Its token exchange fails with
   * ADMIN_IDENTITY_REFUSED if the API makes the account an org admin all the same.
   */
  as(namespace: string, serviceAccount: string): OneclawClient;
}

/** The code of the error a client from `as` fails with when the API made its account an admin. */
export const ADMIN_IDENTITY_REFUSED = 'admin_identity_refused';

export class AdminIdentityError extends Error {
  override name = 'AdminIdentityError';
}

export const principalOf = (namespace: string, serviceAccount: string) =>
  `system:serviceaccount:${namespace}:${serviceAccount}`;

const refusal = (principal: string) =>
  `${principal} is an org admin in oneclaw; the operator never reads for a SecretSync as an admin account`;

/** The `role` claim of the access token in a token-exchange answer, if it has one. */
function roleClaim(body: string): unknown {
  try {
    const token = (JSON.parse(body) as { access_token?: unknown }).access_token;
    if (typeof token !== 'string') return undefined;
    const payload = token.split('.')[1] ?? '';
    return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { role?: unknown }).role;
  } catch {
    return undefined;
  }
}

/**
 * A fetch that turns a token exchange whose token is an org admin's into a 403 of the API's
 * shape (code ADMIN_IDENTITY_REFUSED), so the admin token never reaches the client: the
 * operator's configured list can lag behind the API's.
 */
function refusingAdminTokens(inner: typeof fetch, principal: string): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!res.ok || !new URL(url).pathname.endsWith('/v1/auth/k8s-token')) return res;
    const body = await res.text();
    if (roleClaim(body) === 'admin') {
      return Response.json(
        { error: { code: ADMIN_IDENTITY_REFUSED, message: refusal(principal) } },
        { status: 403 },
      );
    }
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/**
 * A fetch whose requests made inside a reconcile carry its signal too: the SDK's calls take no
 * signal, and a reconcile cancelled by a lost leadership or a shutdown must not go on.
 */
function cancelledWithReconcile(inner: typeof fetch): typeof fetch {
  return (input, init) => {
    const reconcile = currentReconcileSignal();
    if (!reconcile) return inner(input, init);
    const signal = init?.signal ? AbortSignal.any([init.signal, reconcile]) : reconcile;
    return inner(input, { ...init, signal });
  };
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
  /** Principals `as` refuses: the API's org admins, the operator's own account among them. */
  adminServiceAccounts: string[];
  fetch?: typeof fetch;
}): Identities {
  const mint = tokenMinter(opts.kubeConfig, opts.audience);
  const baseFetch = cancelledWithReconcile(opts.fetch ?? ((input, init) => globalThis.fetch(input, init)));
  const admins = new Set(opts.adminServiceAccounts);
  const client = (kubernetesToken: () => Promise<string>, fetchImpl: typeof fetch) =>
    createClient({ baseUrl: opts.apiUrl, credentials: { kubernetesToken }, fetch: fetchImpl });
  const self = opts.self;
  const operator = client(
    'tokenFile' in self
      ? async () => (await readFile(self.tokenFile, 'utf8')).trim()
      : () => mint(self.namespace, self.serviceAccount),
    baseFetch,
  );
  // One client per service account, so its access token is reused until it nears expiry.
  const clients = new LRUCache<string, OneclawClient>({ max: 5_000, ttl: 3_600_000 });
  return {
    operator,
    as(namespace, serviceAccount) {
      const principal = principalOf(namespace, serviceAccount);
      if (admins.has(principal)) throw new AdminIdentityError(refusal(principal));
      const key = `${namespace}/${serviceAccount}`;
      let c = clients.get(key);
      if (!c) {
        c = client(() => mint(namespace, serviceAccount), refusingAdminTokens(baseFetch, principal));
        clients.set(key, c);
      }
      return c;
    },
  };
}
