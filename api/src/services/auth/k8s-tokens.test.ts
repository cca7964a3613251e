// Service-account token validation against the real control plane: tokens are minted with the
// TokenRequest API and checked both ways (TokenReview, and offline against the apiserver's own
// OIDC discovery document and JWKS). Expired and not-yet-valid tokens cannot be minted by
// TokenRequest, so those cases use a local issuer (below).
import { createHmac, createPublicKey } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, OpenidApi } from '@kubernetes/client-node';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigFor, sharedPeer, uniqueName } from '../../../../test/support/fixtures.js';
import type { KubeInfo } from '../../../../test/support/peers/kube.js';
import { ServiceError } from '../errors.js';
import {
  classifyReviewError,
  createJwksValidator,
  createTokenReviewValidator,
  type K8sTokenValidator,
} from './k8s-tokens.js';

const AUDIENCE = 'oneclaw';

const b64json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const unb64json = (s: string | undefined) =>
  JSON.parse(Buffer.from(s ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

/** The validator must reject with this status and code, and never echo the token or a part of it. */
async function expectRejected(
  p: Promise<unknown>,
  expected: { status: number; code: string },
  token: string,
): Promise<ServiceError> {
  const err = await p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServiceError);
  const se = err as ServiceError;
  expect({ status: se.status, code: se.code }).toEqual(expected);
  for (const part of [token, ...token.split('.')].filter((s) => s.length >= 8)) {
    expect(se.message).not.toContain(part);
  }
  return se;
}

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

async function closedPort(): Promise<number> {
  const s = createTcpServer();
  const port = await listen(s);
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** GET without credentials, trusting the test CA: what an anonymous caller sees. */
function anonymousGet(url: string, caPem: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: caPem, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Kubernetes service-account tokens', () => {
  let kube: KubeInfo;
  let kc: KubeConfig;
  let core: CoreV1Api;
  const ns = uniqueName('k8stok');
  const sa = { name: 'reader', uid: '' };
  const doomed = { name: 'doomed', uid: '' };
  const tokens = {
    valid: '',
    otherAudience: '',
    ofDeletedAccount: '',
    tampered: '',
    algNone: '',
    hmacWithPublicKey: '',
  };

  /** What a validator answers for a live token of `account`, a service account in `ns`. */
  const identityOf = (account: { name: string; uid: string }) => ({
    namespace: ns,
    name: account.name,
    uid: account.uid,
    username: `system:serviceaccount:${ns}:${account.name}`,
  });
  /** The JWKS validator as a pod would run it: the apiserver's issuer and CA, with a bearer token. */
  const clusterJwks = (extra: Partial<Parameters<typeof createJwksValidator>[0]> = {}) =>
    createJwksValidator({
      issuer: kube.issuer,
      audience: AUDIENCE,
      caPem: kube.caPem,
      bearerToken: kube.token,
      ...extra,
    });

  async function mint(name: string, audiences: string[]): Promise<string> {
    const res = await core.createNamespacedServiceAccountToken({
      name,
      namespace: ns,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences, expirationSeconds: 600 },
      },
    });
    const token = res.status?.token;
    if (!token) throw new Error('TokenRequest returned no token');
    return token;
  }

  async function createServiceAccount(name: string): Promise<string> {
    const created = await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name } },
    });
    const uid = created.metadata?.uid;
    if (!uid) throw new Error('service account has no uid');
    return uid;
  }

  beforeAll(async () => {
    kube = await sharedPeer('kube');
    kc = kubeConfigFor(kube.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({
      body: { metadata: { name: ns, labels: { 'oneclaw.dev/test': 'k8s-tokens' } } },
    });
    sa.uid = await createServiceAccount(sa.name);
    doomed.uid = await createServiceAccount(doomed.name);
    [tokens.valid, tokens.otherAudience, tokens.ofDeletedAccount] = await Promise.all([
      mint(sa.name, [AUDIENCE]),
      mint(sa.name, ['someone-else']),
      mint(doomed.name, [AUDIENCE]),
    ]);
    await core.deleteNamespacedServiceAccount({ name: doomed.name, namespace: ns });

    const [header, payload, signature] = tokens.valid.split('.');
    const claims = unb64json(payload);
    // Another namespace in both places it appears, so only the signature can tell.
    claims.sub = `system:serviceaccount:kube-system:${sa.name}`;
    (claims['kubernetes.io'] as { namespace: string }).namespace = 'kube-system';
    tokens.tampered = `${header}.${b64json(claims)}.${signature}`;
    tokens.algNone = `${b64json({ alg: 'none', typ: 'JWT' })}.${payload}.`;

    // Algorithm confusion: HS256 keyed with the cluster's public key, which anyone can fetch.
    // Typed as a string, but client-node hands back the parsed JSON document.
    const keyset: unknown = await kc.makeApiClient(OpenidApi).getServiceAccountIssuerOpenIDKeyset();
    const jwks = (typeof keyset === 'string' ? JSON.parse(keyset) : keyset) as {
      keys: (JWK & { kid: string })[];
    };
    const jwk = jwks.keys[0];
    if (!jwk) throw new Error('apiserver JWKS has no keys');
    const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const hsInput = `${b64json({ alg: 'HS256', typ: 'JWT', kid: jwk.kid })}.${payload}`;
    tokens.hmacWithPublicKey = `${hsInput}.${createHmac('sha256', pem).update(hsInput).digest('base64url')}`;
  });

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });

  const modes: { mode: K8sTokenValidator['mode']; make: () => K8sTokenValidator }[] = [
    { mode: 'tokenreview', make: () => createTokenReviewValidator({ kubeConfig: kc, audience: AUDIENCE }) },
    {
      mode: 'jwks',
      // The apiserver refuses its discovery document and JWKS to anonymous callers (see the
      // test below), so the validator authenticates with a bearer; in a pod, its own SA token.
      make: () => clusterJwks(),
    },
  ];

  describe.each(modes)('$mode', ({ mode, make }) => {
    let validator: K8sTokenValidator;
    beforeAll(() => {
      validator = make();
      expect(validator.mode).toBe(mode);
    });

    it('accepts a token minted for its audience and names the service account', async () => {
      await expect(validator.validate(tokens.valid)).resolves.toEqual(identityOf(sa));
    });

    it('rejects a token minted for another audience as wrong_audience', async () => {
      await expectRejected(
        validator.validate(tokens.otherAudience),
        { status: 401, code: 'wrong_audience' },
        tokens.otherAudience,
      );
    });

    it('rejects a tampered payload, alg none and HS256-with-the-public-key as invalid_token', async () => {
      for (const token of [tokens.tampered, tokens.algNone, tokens.hmacWithPublicKey]) {
        await expectRejected(validator.validate(token), { status: 401, code: 'invalid_token' }, token);
      }
    });

    it('rejects garbage as invalid_token', async () => {
      for (const token of [
        'not-a-token',
        '',
        'aaaaaaaaaa.bbbbbbbbbb.cccccccccc',
        `${'x'.repeat(20_000)}.a.b`,
      ]) {
        await expectRejected(validator.validate(token), { status: 401, code: 'invalid_token' }, token);
      }
    });

    it('answers 503 k8s_unavailable when the cluster is unreachable, without the token', async () => {
      const port = await closedPort();
      const server = `https://127.0.0.1:${port}`;
      const unreachable =
        mode === 'tokenreview'
          ? createTokenReviewValidator({ kubeConfig: kubeConfigAt(server, kube.caPem), audience: AUDIENCE })
          : clusterJwks({ issuer: server });
      await expectRejected(
        unreachable.validate(tokens.valid),
        { status: 503, code: 'k8s_unavailable' },
        tokens.valid,
      );
    });

    it('gives up after timeoutMs when the cluster accepts connections but never answers', async () => {
      const sockets = new Set<Socket>();
      const silent = createTcpServer((s) => sockets.add(s));
      const port = await listen(silent);
      try {
        const server = `https://127.0.0.1:${port}`;
        const slow =
          mode === 'tokenreview'
            ? createTokenReviewValidator({
                kubeConfig: kubeConfigAt(server, kube.caPem),
                audience: AUDIENCE,
                timeoutMs: 300,
              })
            : createJwksValidator({ issuer: server, audience: AUDIENCE, caPem: kube.caPem, timeoutMs: 300 });
        const started = Date.now();
        const err = await expectRejected(
          slow.validate(tokens.valid),
          { status: 503, code: 'k8s_unavailable' },
          tokens.valid,
        );
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(err.message).toMatch(/timed out/);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });
  });

  it('tokenreview: a deleted service account is principal_revoked', async () => {
    const validator = createTokenReviewValidator({ kubeConfig: kc, audience: AUDIENCE });
    // The apiserver looks service accounts up in its informer cache first, so the deletion
    // may take a moment to show.
    const deadline = Date.now() + 10_000;
    while (
      (await validator.validate(tokens.ofDeletedAccount).then(
        () => true,
        () => false,
      )) &&
      Date.now() < deadline
    ) {
      await sleep(100);
    }
    await expectRejected(
      validator.validate(tokens.ofDeletedAccount),
      { status: 401, code: 'principal_revoked' },
      tokens.ofDeletedAccount,
    );
  });

  it('jwks: still accepts the token of a deleted service account until it expires (known limit)', async () => {
    // Offline validation sees only the signature and claims; nothing tells it the account is
    // gone. This is why TokenReview mode exists and why projected tokens should be short-lived.
    await expect(clusterJwks().validate(tokens.ofDeletedAccount)).resolves.toEqual(identityOf(doomed));
  });

  it('jwks: the apiserver serves discovery and JWKS to authenticated callers only', async () => {
    // Why the JWKS validator takes a bearer: anonymous auth is on, but the ClusterRole
    // system:service-account-issuer-discovery is bound to system:serviceaccounts only, so an
    // anonymous GET is 403. The discovery document names jwks_uri <issuer>/openid/v1/jwks.
    expect(await anonymousGet(`${kube.issuer}/.well-known/openid-configuration`, kube.caPem)).toBe(403);
    expect(await anonymousGet(`${kube.issuer}/openid/v1/jwks`, kube.caPem)).toBe(403);
    const anonymous = createJwksValidator({ issuer: kube.issuer, audience: AUDIENCE, caPem: kube.caPem });
    await expectRejected(
      anonymous.validate(tokens.valid),
      { status: 503, code: 'k8s_unavailable' },
      tokens.valid,
    );
    // An explicit jwksUrl skips discovery.
    const direct = clusterJwks({ jwksUrl: `${kube.issuer}/openid/v1/jwks` });
    await expect(direct.validate(tokens.valid)).resolves.toMatchObject({ namespace: ns, name: sa.name });
  });
});

function kubeConfigAt(server: string, caPem: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'u', token: 'oneclaw-test-not-a-real-credential' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

// A local issuer speaking the same OIDC wire format as kube-apiserver (discovery document,
// JWKS, RS256 tokens with the `kubernetes.io` claim). It stands in for the cluster where
// TokenRequest cannot help: it will not mint a token that is already expired or not yet valid.
describe('jwks: time and claim checks (local issuer)', () => {
  let server: Server;
  let issuer: string;
  const fetches = { discovery: 0, jwks: 0 };
  const kid = 'local-key-1';
  let privateKey: CryptoKey;
  let strangerKey: CryptoKey;
  let validator: K8sTokenValidator;
  const subject = { namespace: 'apps', name: 'web', uid: '0f8fad5b-d9cb-469f-a165-70867728950e' };

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    strangerKey = (await generateKeyPair('RS256')).privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' };
    server = createHttpServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration') {
        fetches.discovery++;
        res.end(
          JSON.stringify({
            issuer,
            jwks_uri: `${issuer}/openid/v1/jwks`,
            response_types_supported: ['id_token'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
          }),
        );
      } else if (req.url === '/broken/.well-known/openid-configuration') {
        res.end(JSON.stringify({ issuer: `${issuer}/broken`, jwks_uri: `${issuer}/broken/jwks` }));
      } else if (req.url === '/broken/jwks') {
        res.statusCode = 500;
        res.end('{}');
      } else if (req.url === '/openid/v1/jwks') {
        fetches.jwks++;
        res.end(JSON.stringify({ keys: [publicJwk] }));
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
    issuer = `http://127.0.0.1:${await listen(server)}`;
    validator = createJwksValidator({ issuer, audience: AUDIENCE });
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  function sign(
    opts: {
      exp?: number;
      nbf?: number;
      iss?: string;
      sub?: string;
      namespace?: string;
      kid?: string;
      key?: CryptoKey;
    } = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      'kubernetes.io': {
        namespace: opts.namespace ?? subject.namespace,
        serviceaccount: { name: subject.name, uid: subject.uid },
      },
    })
      .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? kid })
      .setIssuer(opts.iss ?? issuer)
      .setSubject(opts.sub ?? `system:serviceaccount:${subject.namespace}:${subject.name}`)
      .setAudience([AUDIENCE])
      .setIssuedAt(now - 60)
      .setNotBefore(opts.nbf ?? now - 60)
      .setExpirationTime(opts.exp ?? now + 600)
      .sign(opts.key ?? privateKey);
  }

  it('accepts a well-formed token (so the failures below are about time and claims)', async () => {
    await expect(validator.validate(await sign())).resolves.toEqual({
      ...subject,
      username: `system:serviceaccount:${subject.namespace}:${subject.name}`,
    });
  });

  it('rejects an expired token and a not-yet-valid one as token_expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const token of [await sign({ exp: now - 3600 }), await sign({ nbf: now + 3600 })]) {
      await expectRejected(validator.validate(token), { status: 401, code: 'token_expired' }, token);
    }
  });

  it('rejects a foreign issuer, a non-service-account subject and disagreeing claims as invalid_token', async () => {
    const cases = [
      await sign({ iss: 'https://kubernetes.default.svc' }),
      await sign({ sub: 'system:node:worker-1' }),
      await sign({ namespace: 'kube-system' }), // sub says "apps"
      await sign({ key: strangerKey }), // right kid, wrong key
    ];
    for (const token of cases) {
      await expectRejected(validator.validate(token), { status: 401, code: 'invalid_token' }, token);
    }
  });

  it('answers 503 k8s_unavailable when discovery works but the JWKS endpoint fails', async () => {
    const broken = createJwksValidator({ issuer: `${issuer}/broken`, audience: AUDIENCE });
    const token = await sign({ iss: `${issuer}/broken` });
    await expectRejected(broken.validate(token), { status: 503, code: 'k8s_unavailable' }, token);
  });

  it('discovers once, caches the keys, and refetches for an unknown kid at most once per cooldown', async () => {
    const before = { ...fetches };
    for (let i = 0; i < 3; i++) await validator.validate(await sign());
    expect(fetches).toEqual(before);
    for (let i = 0; i < 3; i++) {
      const token = await sign({ kid: `unknown-${i}`, key: strangerKey });
      await expectRejected(validator.validate(token), { status: 401, code: 'invalid_token' }, token);
    }
    expect(fetches.discovery).toBe(before.discovery);
    expect(fetches.jwks - before.jwks).toBeLessThanOrEqual(1);
  });
});

// status.error texts as kube-apiserver 1.35 returns them (the first four observed in this suite's
// TokenReviews; the rest from pkg/serviceaccount/claims.go), so a wording change shows up here.
describe('classifyReviewError (TokenReview status.error texts)', () => {
  it.each([
    [
      '[invalid bearer token, token audiences ["someone-else"] is invalid for the target audiences ["oneclaw"]]',
      'wrong_audience',
    ],
    ['[invalid bearer token, serviceaccounts "doomed" not found]', 'principal_revoked'],
    ['[invalid bearer token, go-jose/go-jose: error in cryptographic primitive]', 'invalid_token'],
    ['invalid bearer token', 'invalid_token'],
    ['[invalid bearer token, service account token has expired]', 'token_expired'],
    ['[invalid bearer token, service account token is not valid yet]', 'token_expired'],
    ['[invalid bearer token, service account ns/doomed has been deleted]', 'principal_revoked'],
    ['[invalid bearer token, service account UID (1) does not match claim (2)]', 'principal_revoked'],
    ['[invalid bearer token, service account token has been invalidated]', 'principal_revoked'],
    [undefined, 'invalid_token'],
  ])('%s → %s', (error, code) => {
    expect(classifyReviewError(error)).toBe(code);
  });
});
