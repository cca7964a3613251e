// Kubernetes service-account tokens for `POST /v1/auth/k8s-token`: a workload presents a
// projected token minted for oneclaw's audience and is known as
// `system:serviceaccount:<ns>:<name>`. Two ways to decide whether the token is genuine:
//
// - TokenReview (online): ask the apiserver. It checks signature, issuer, expiry and audience,
//   and also that the service account (and the pod or secret the token is bound to) still
//   exists, so deleting a service account stops its tokens at once. oneclaw's own identity
//   needs `create` on `tokenreviews` (ClusterRole `system:auth-delegator`).
// - JWKS (offline): verify the JWT against the issuer's OIDC discovery document and key set,
//   with no call per token. It cannot notice a deleted service account or pod before the token
//   expires; that is what TokenReview mode is for. Keep projected token lifetimes short
//   (`expirationSeconds` of 10–60 minutes) when running offline.
//
// Both modes yield the same identity and the same 401 codes; an unreachable or timing-out
// apiserver or JWKS endpoint is a 503 `k8s_unavailable`. No message ever contains the token or
// any part of it, and no upstream error text is passed through (it could echo the token).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  ApiException,
  AuthenticationV1Api,
  type ConfigurationOptions,
  type KubeConfig,
  Observable,
  type V1TokenReviewStatus,
} from '@kubernetes/client-node';
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { type AuthFailure, type ServiceError, unauthenticated, unavailable } from '../errors.js';

export interface K8sIdentity {
  namespace: string;
  /** Service account name. */
  name: string;
  /** Service account uid when known. */
  uid: string | undefined;
  /** "system:serviceaccount:<ns>:<name>" — the principal policies name. */
  username: string;
}

export interface K8sTokenValidator {
  readonly mode: 'tokenreview' | 'jwks';
  validate(token: string): Promise<K8sIdentity>;
}

const DEFAULT_TIMEOUT_MS = 5_000;
/** Projected tokens are ~1 KiB; anything far larger is not one, and is not sent anywhere. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_DOCUMENT_BYTES = 1024 * 1024;
const CLOCK_TOLERANCE_SECONDS = 30;
/**
 * What kube-apiserver signs service-account tokens with: RS256 for an RSA key, ES256/384/512
 * for an ECDSA key. Pinned, so `none`, HS* (public key used as an HMAC secret) and anything
 * else never reach signature verification.
 */
const CLUSTER_ALGORITHMS = ['RS256', 'ES256', 'ES384', 'ES512'];
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const SA_PREFIX = 'system:serviceaccount:';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const rejected = (code: AuthFailure, audience: string): ServiceError => {
  switch (code) {
    case 'token_expired':
      return unauthenticated('Kubernetes service-account token has expired or is not yet valid', code);
    case 'wrong_audience':
      return unauthenticated(
        `Kubernetes service-account token was not issued for audience "${audience}"`,
        code,
      );
    case 'principal_revoked':
      return unauthenticated(
        'the service account, or the object its token is bound to, no longer exists',
        code,
      );
    default:
      return unauthenticated('invalid Kubernetes service-account token', 'invalid_token');
  }
};

const k8sUnavailable = (message: string) => unavailable('k8s_unavailable', message);

/** Rejects what cannot be a JWT before anything is sent to the cluster. */
function assertJwtShape(token: string, audience: string): void {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !JWT_SHAPE.test(token)) {
    throw rejected('invalid_token', audience);
  }
}

/** `system:serviceaccount:<ns>:<name>` → its parts; anything else (users, nodes) → undefined. */
function parseServiceAccountUsername(username: unknown): { namespace: string; name: string } | undefined {
  if (typeof username !== 'string' || !username.startsWith(SA_PREFIX)) return undefined;
  const [namespace, name, ...rest] = username.slice(SA_PREFIX.length).split(':');
  if (rest.length || !namespace || !name || !DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) {
    return undefined;
  }
  return { namespace, name };
}

/** A short, token-free description of why a network call failed (error codes only). */
function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: unknown; code?: unknown; type?: unknown } | undefined;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError' || e?.type === 'aborted') {
    return `timed out after ${timeoutMs} ms`;
  }
  if (err instanceof ApiException) return `HTTP ${err.code}`;
  const code = typeof e?.code === 'string' && /^[A-Z_]+$/.test(e.code) ? e.code : undefined;
  return code ?? 'request failed';
}

// ---------------------------------------------------------------------------------------------
// TokenReview

/** Request options that abort the call after `ms` (client-node has no timeout of its own). */
function abortAfter(ms: number): ConfigurationOptions {
  const signal = AbortSignal.timeout(ms);
  return {
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (res) => new Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/**
 * Why the apiserver said no. `status.error` is its only hint: free text, an aggregate of every
 * token authenticator's error, e.g. `[invalid bearer token, service account token has expired]`.
 * The service-account authenticator's messages (pkg/serviceaccount/{jwt,claims}.go) are stable:
 * - "token audiences … is invalid for the target audiences …"            → wrong_audience
 * - "service account token has expired" / "is not valid yet" /
 *   "is issued in the future"                                             → token_expired
 * - `serviceaccounts "<name>" not found` (the service account is gone),
 *   "service account <ns>/<name> has been deleted" (being deleted),
 *   "… UID (…) does not match … claim (…)" (deleted and recreated under the same name),
 *   "service account token has been invalidated" (bound pod/secret/node deleted)
 *                                                                           → principal_revoked
 * Everything else (bad signature, unknown key, foreign issuer, garbage) → invalid_token.
 * The text is only matched, never returned: it can name the namespace and service account.
 */
export function classifyReviewError(error: string | undefined): AuthFailure {
  const text = error ?? '';
  if (/token audiences .* is invalid for the target audiences/.test(text)) return 'wrong_audience';
  if (/service account token (has expired|is not valid yet|is issued in the future)/.test(text)) {
    return 'token_expired';
  }
  if (
    /serviceaccounts? "[^"]*" not found/.test(text) ||
    /service account \S+ has been deleted/.test(text) ||
    /service account token has been invalidated/.test(text) ||
    /UID \([^)]*\) does not match .*claim/.test(text)
  ) {
    return 'principal_revoked';
  }
  return 'invalid_token';
}

export function createTokenReviewValidator(opts: {
  kubeConfig: KubeConfig;
  audience: string;
  timeoutMs?: number;
}): K8sTokenValidator {
  const { audience } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const api = opts.kubeConfig.makeApiClient(AuthenticationV1Api);

  return {
    mode: 'tokenreview',
    async validate(token) {
      assertJwtShape(token, audience);
      let status: V1TokenReviewStatus | undefined;
      try {
        const review = await api.createTokenReview(
          {
            body: {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenReview',
              spec: { token, audiences: [audience] },
            },
          },
          abortAfter(timeoutMs),
        );
        status = review.status;
      } catch (err) {
        // 401/403 here means oneclaw's own credentials (or RBAC) are wrong, not the caller's.
        throw k8sUnavailable(`Kubernetes TokenReview failed: ${describeFailure(err, timeoutMs)}`);
      }
      if (!status?.authenticated) throw rejected(classifyReviewError(status?.error), audience);
      // An audience-unaware authenticator (a webhook, say) may ignore spec.audiences; an empty
      // status.audiences then means "valid for the apiserver", which is not us.
      if (!status.audiences?.includes(audience)) throw rejected('wrong_audience', audience);
      const sa = parseServiceAccountUsername(status.user?.username);
      if (!sa) throw rejected('invalid_token', audience);
      // For service-account tokens user.uid is the service account's uid.
      const uid = status.user?.uid || undefined;
      return { ...sa, uid, username: `${SA_PREFIX}${sa.namespace}:${sa.name}` };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// JWKS (offline OIDC)

/** https, or http to a loopback address (tests, `kubectl proxy`); never plain http elsewhere. */
function isAcceptableUrl(url: URL): boolean {
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/** A bounded GET trusting `caPem` (or the system roots) — fetch() cannot take a private CA. */
function httpGet(
  url: string,
  opts: { caPem: string | undefined; headers: Record<string, string>; signal: AbortSignal },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(
      url,
      {
        method: 'GET',
        headers: opts.headers,
        signal: opts.signal,
        ...(opts.caPem ? { ca: opts.caPem } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_DOCUMENT_BYTES) req.destroy(new Error('response too large'));
          else chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Fetch errors are kept apart from verification errors: the first are 503s, not 401s. */
class KeySourceUnavailable extends Error {}

interface KeySource {
  getKey: JWTVerifyGetKey;
  algorithms: string[];
}

/**
 * Offline validation against the issuer's OIDC metadata. `jwksUrl` skips discovery.
 *
 * Reaching the metadata of a kube-apiserver: discovery is served at
 * `<issuer>/.well-known/openid-configuration` and names `jwks_uri` `<issuer>/openid/v1/jwks`
 * (the apiserver's own URL unless `--service-account-jwks-uri` says otherwise). Both need an
 * authenticated caller by default: the ClusterRole `system:service-account-issuer-discovery`
 * is bound to the group `system:serviceaccounts` only, so anonymous requests get 401/403.
 * In a pod, pass the pod's own service-account token as `bearerToken` (any service account may
 * read them); the cluster CA as `caPem`. The bearer is sent only to the issuer's origin or to an
 * explicitly configured `jwksUrl`, never to a host merely named by the discovery document.
 *
 * Keys are cached (10 min) and refetched when a token names an unknown `kid`, at most once per
 * 30 s, so rotating the signing key just works and random `kid`s cannot hammer the issuer.
 */
export function createJwksValidator(opts: {
  issuer: string;
  audience: string;
  jwksUrl?: string;
  caPem?: string;
  timeoutMs?: number;
  /** Optional bearer for fetching discovery/JWKS from an apiserver that requires auth. */
  bearerToken?: string;
}): K8sTokenValidator {
  const { issuer, audience, caPem } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const issuerUrl = new URL(issuer);
  if (!isAcceptableUrl(issuerUrl)) throw new Error(`service-account issuer must be an https URL: ${issuer}`);
  const explicitJwksUrl = opts.jwksUrl ? new URL(opts.jwksUrl) : undefined;
  if (explicitJwksUrl && !isAcceptableUrl(explicitJwksUrl)) {
    throw new Error(`service-account JWKS URL must be an https URL: ${opts.jwksUrl}`);
  }
  const authHeaders = (url: URL): Record<string, string> =>
    opts.bearerToken && (url.origin === issuerUrl.origin || url.href === explicitJwksUrl?.href)
      ? { authorization: `Bearer ${opts.bearerToken}` }
      : {};

  const discover = async (): Promise<{ jwksUri: URL; algorithms: string[] }> => {
    if (explicitJwksUrl) return { jwksUri: explicitJwksUrl, algorithms: CLUSTER_ALGORITHMS };
    const url = new URL(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`);
    let res: { status: number; body: string };
    try {
      res = await httpGet(url.href, {
        caPem,
        headers: { accept: 'application/json', ...authHeaders(url) },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw k8sUnavailable(
        `OIDC discovery for the service-account issuer failed: ${describeFailure(err, timeoutMs)}`,
      );
    }
    if (res.status !== 200) {
      throw k8sUnavailable(`OIDC discovery for the service-account issuer failed: HTTP ${res.status}`);
    }
    let doc: { issuer?: unknown; jwks_uri?: unknown; id_token_signing_alg_values_supported?: unknown };
    try {
      doc = JSON.parse(res.body) as typeof doc;
    } catch {
      throw k8sUnavailable('OIDC discovery document of the service-account issuer is not JSON');
    }
    if (doc.issuer !== issuer) {
      throw k8sUnavailable('OIDC discovery document names a different issuer than configured');
    }
    const jwksUri =
      typeof doc.jwks_uri === 'string' && URL.canParse(doc.jwks_uri) ? new URL(doc.jwks_uri) : undefined;
    if (!jwksUri || !isAcceptableUrl(jwksUri)) {
      throw k8sUnavailable('OIDC discovery document has no usable https jwks_uri');
    }
    const advertised = Array.isArray(doc.id_token_signing_alg_values_supported)
      ? CLUSTER_ALGORITHMS.filter((alg) =>
          (doc.id_token_signing_alg_values_supported as unknown[]).includes(alg),
        )
      : [];
    return { jwksUri, algorithms: advertised.length ? advertised : CLUSTER_ALGORITHMS };
  };

  const fetchJwks = async (
    url: string,
    init: { headers: Headers; signal: AbortSignal },
  ): Promise<Response> => {
    try {
      const res = await httpGet(url, {
        caPem,
        headers: Object.fromEntries(init.headers),
        signal: init.signal,
      });
      return new Response(res.body, { status: res.status, headers: { 'content-type': 'application/json' } });
    } catch (err) {
      throw new KeySourceUnavailable(
        `fetching the service-account JWKS failed: ${describeFailure(err, timeoutMs)}`,
      );
    }
  };

  const load = async (): Promise<KeySource> => {
    const { jwksUri, algorithms } = await discover();
    const remote = createRemoteJWKSet(jwksUri, {
      timeoutDuration: timeoutMs,
      headers: authHeaders(jwksUri),
      [customFetch]: fetchJwks,
    });
    const getKey: KeySource['getKey'] = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        // No key for this kid (after a refresh) or an unusable key: the token's problem.
        if (
          err instanceof errors.JWKSNoMatchingKey ||
          err instanceof errors.JWKSMultipleMatchingKeys ||
          err instanceof errors.JOSENotSupported
        ) {
          throw err;
        }
        // Timeouts, non-200 answers, malformed key sets, connection errors: the issuer's.
        if (err instanceof KeySourceUnavailable) throw err;
        if (err instanceof errors.JWKSTimeout) {
          throw new KeySourceUnavailable(`fetching the service-account JWKS timed out after ${timeoutMs} ms`);
        }
        throw new KeySourceUnavailable('the service-account JWKS endpoint gave no usable key set');
      }
    };
    return { getKey, algorithms };
  };

  // Discovery happens on first use and is kept once it succeeds; a failure is retried by the
  // next request (concurrent requests share one attempt).
  let keySource: Promise<KeySource> | undefined;
  const keys = () => {
    keySource ??= load().catch((err: unknown) => {
      keySource = undefined;
      throw err;
    });
    return keySource;
  };

  return {
    mode: 'jwks',
    async validate(token) {
      assertJwtShape(token, audience);
      const { getKey, algorithms } = await keys();
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          issuer,
          audience,
          algorithms,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (err) {
        if (err instanceof KeySourceUnavailable) throw k8sUnavailable(err.message);
        if (err instanceof errors.JWTExpired) throw rejected('token_expired', audience);
        if (err instanceof errors.JWTClaimValidationFailed) {
          if (err.claim === 'aud') throw rejected('wrong_audience', audience);
          if (err.claim === 'nbf') throw rejected('token_expired', audience);
        }
        throw rejected('invalid_token', audience);
      }
      const identity = identityFromClaims(payload);
      if (!identity) throw rejected('invalid_token', audience);
      return identity;
    },
  };
}

/**
 * The subject must be a service account, and the private `kubernetes.io` claim
 * (`{namespace, serviceaccount: {name, uid}, pod?, secret?, node?}`) must agree with it.
 */
function identityFromClaims(payload: JWTPayload): K8sIdentity | undefined {
  const sa = parseServiceAccountUsername(payload.sub);
  if (!sa) return undefined;
  const k8s = payload['kubernetes.io'] as
    | { namespace?: unknown; serviceaccount?: { name?: unknown; uid?: unknown } }
    | undefined;
  if (k8s?.namespace !== sa.namespace || k8s.serviceaccount?.name !== sa.name) return undefined;
  const uid = k8s.serviceaccount.uid;
  if (typeof uid !== 'string' || !uid) return undefined;
  return { ...sa, uid, username: `${SA_PREFIX}${sa.namespace}:${sa.name}` };
}
