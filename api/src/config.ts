// The API's configuration: the variables of the shared schema (common/src/environment.ts),
// parsed once at boot. A bad value stops the process with one line per problem naming the
// variable; values are never echoed (some of them are secrets).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import { ConfigError, type Env, EnvSchema, isOperatorVariable } from '../../common/src/environment.js';
import type { KmsSettings } from './kms/types.js';
import { parseKeyUri } from './kms/uri.js';

export interface Config {
  profile: 'dev' | 'production';
  listen: { host: string; port: number };
  logLevel: string;
  /** Undefined: the embedded PostgreSQL (dev only). */
  databaseUrl: string | undefined;
  dataDir: string;
  kmsKey: string;
  previousKmsKeys: string[];
  signingKey: string;
  /** PEM of the local Ed25519 signing key (signingKey local://…); generated in dev if unset. */
  signingKeyFile: string | undefined;
  kms: KmsSettings;
  kekCache: { ttlMs: number; maxEntries: number };
  maxSecretBytes: number;
  tokenTtlSeconds: number;
  bootstrapAdminKey: string | undefined;
  /** Connections to PostgreSQL per process. */
  databasePoolMax: number;
  /**
   * How long a replica holds a job between progress commits; a job whose holder died is
   * resumed (or, for CMEK rotations, shown as interrupted) once its lease runs out.
   */
  jobLeaseMs: number;
  /** Verified-token cache size; 0 turns the cache off (every request verifies the signature). */
  tokenCacheMaxEntries: number;
  /** CIDRs of reverse proxies whose X-Forwarded-For is trusted; empty: the socket address. */
  trustedProxies: string[];
  /** Token exchanges per client address per minute; 0 turns rate limiting off. */
  authRateLimitPerMinute: number;
  /** Per-principal limits, counted in each replica (docs/api.md, "Limits"); 0 turns one off. */
  limits: Limits;
  k8s: K8sAuthConfig;
  /**
   * Service accounts ("system:serviceaccount:<ns>:<name>") that are org admins when they exchange
   * a token: the operator's own identity, so it needs no static admin key.
   */
  k8sAdminServiceAccounts: string[];
}

export interface Limits {
  /** Requests per second per member principal. */
  requestsPerSecond: number;
  /** Requests per second per admin principal. */
  adminRequestsPerSecond: number;
  /** Open change-feed subscriptions (streams, waiting long polls) per member principal. */
  feedSubscriptionsPerPrincipal: number;
  /** KMS calls per second per principal in `custody: kms` vaults. */
  kmsCallsPerSecond: number;
}

export const DEFAULT_LIMITS: Limits = {
  requestsPerSecond: 100,
  adminRequestsPerSecond: 1000,
  feedSubscriptionsPerPrincipal: 100,
  kmsCallsPerSecond: 50,
};

/** How `POST /v1/auth/k8s-token` validates service-account tokens. */
export type K8sAuthConfig =
  | { mode: 'off' }
  | { mode: 'tokenreview'; audience: string; kubeconfig: string | undefined }
  | {
      mode: 'jwks';
      audience: string;
      issuer: string;
      /** Default: the issuer's OIDC discovery document names it. */
      jwksUrl: string | undefined;
      /** PEM bundle trusted for the issuer's TLS; default: the system's. */
      caFile: string | undefined;
      /** A bearer token file for reading the issuer's discovery document and keys, if it wants one. */
      tokenFile: string | undefined;
    };

/** What a value must look like, for the variables whose schema is a pattern. */
const HINTS: Record<string, string> = {
  ONECLAW_LISTEN: 'expected host:port, e.g. 127.0.0.1:8080 or [::1]:8080',
  ONECLAW_DATABASE_URL: 'expected a postgres:// or postgresql:// URL',
  ONECLAW_KMS_KEY:
    'expected a key URI such as local://dev, transit://transit/oneclaw, awskms://alias/oneclaw?region=…',
  ONECLAW_SIGNING_KEY: 'expected a key URI such as local://jwt or transit://transit/oneclaw-jwt',
  ONECLAW_LOCAL_MASTER_KEY: 'expected base64 of exactly 32 bytes (openssl rand -base64 32)',
  ONECLAW_TRANSIT_ADDR: 'expected an http(s):// URL',
  ONECLAW_AWS_KMS_ENDPOINT: 'expected an http(s):// URL',
  ONECLAW_GCP_KMS_ENDPOINT: 'expected host or host:port',
  ONECLAW_PKCS11_MODULE:
    'expected the absolute path of the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so',
  ONECLAW_BOOTSTRAP_ADMIN_KEY:
    'expected a user API key: ocu_ followed by at least 32 characters of A-Z a-z 0-9 _ -',
  ONECLAW_KMS_TIMEOUT_MS: 'expected a positive integer',
  ONECLAW_KEK_CACHE_TTL_SECONDS: 'expected a positive integer',
  ONECLAW_KEK_CACHE_MAX_ENTRIES: 'expected a positive integer',
  ONECLAW_MAX_SECRET_BYTES: 'expected a positive integer',
  ONECLAW_TOKEN_TTL_SECONDS: 'expected a positive integer',
  ONECLAW_TOKEN_CACHE_MAX_ENTRIES: 'expected a whole number (0 turns the cache off)',
  ONECLAW_DATABASE_POOL_MAX: 'expected a positive integer',
  ONECLAW_JOB_LEASE_MS: 'expected a positive integer (milliseconds)',
  ONECLAW_AUTH_RATE_LIMIT: 'expected a whole number of requests per minute (0 turns it off)',
  ONECLAW_RATE_LIMIT: 'expected a whole number of requests per second (0 turns it off)',
  ONECLAW_ADMIN_RATE_LIMIT: 'expected a whole number of requests per second (0 turns it off)',
  ONECLAW_FEED_MAX_PER_PRINCIPAL: 'expected a whole number of subscriptions (0 turns the cap off)',
  ONECLAW_KMS_BUDGET: 'expected a whole number of KMS calls per second (0 turns it off)',
  ONECLAW_K8S_ISSUER: "expected the https:// issuer URL of the cluster's service-account tokens",
  ONECLAW_K8S_JWKS_URL: 'expected an https:// URL',
};

function describeError(e: { instancePath: string; message: string; keyword: string }): string {
  const name = e.instancePath.replace(/^\//, '');
  return `${name}: ${(e.keyword === 'pattern' && HINTS[name]) || e.message}`;
}

function allowed(name: string): string {
  const schema = (EnvSchema.properties as Record<string, { anyOf?: Array<{ const?: string }> }>)[name];
  return (schema?.anyOf ?? []).map((s) => s.const).join(', ');
}

/** Parses the ONECLAW_* variables. Throws ConfigError listing every problem at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(env))
    if (k.startsWith('ONECLAW_') && v !== undefined && v !== '') raw[k] = v;
  const problems: string[] = [];
  const known = new Set(Object.keys(EnvSchema.properties));
  for (const k of Object.keys(raw)) {
    // The operator's variables are validated by the operator (the two share a process with --embedded-api).
    if (!known.has(k) && !isOperatorVariable(k)) problems.push(`${k}: unknown variable (typo?)`);
  }
  // Each variable on its own, so every bad one is reported, not just the first.
  const properties = EnvSchema.properties as unknown as Record<string, TSchema>;
  for (const [name, value] of Object.entries(raw)) {
    const schema = properties[name];
    if (!schema) continue;
    const first = [...Value.Errors(schema, value)][0];
    if (!first) continue;
    problems.push(
      first.keyword === 'const' || first.keyword === 'anyOf'
        ? `${name}: not one of the allowed values (${allowed(name)})`
        : describeError({ ...first, instancePath: `/${name}` }),
    );
  }
  // Semantic checks below still run, so one start reports every problem; they skip variables
  // that already failed their schema.
  const bad = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))));
  const e = Object.fromEntries(Object.entries(raw).filter(([k]) => !bad.has(k))) as Env;

  const embedded = e.ONECLAW_DATABASE_URL === undefined;
  const profile = e.ONECLAW_PROFILE ?? (embedded ? 'dev' : 'production');
  if (embedded && profile === 'production') {
    problems.push(
      'ONECLAW_DATABASE_URL: required in the production profile (the embedded database is for dev only)',
    );
  }
  const dataDir =
    e.ONECLAW_DATA_DIR ?? join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local/share'), 'oneclaw');

  const kms: KmsSettings = {};
  if (e.ONECLAW_KMS_TIMEOUT_MS) kms.timeoutMs = Number(e.ONECLAW_KMS_TIMEOUT_MS);
  const kmsKey = e.ONECLAW_KMS_KEY ?? (profile === 'dev' ? 'local://dev' : undefined);
  if (!kmsKey) problems.push('ONECLAW_KMS_KEY: required in the production profile');

  let masterKey: Buffer | undefined;
  if (e.ONECLAW_LOCAL_MASTER_KEY && e.ONECLAW_LOCAL_MASTER_KEY_FILE) {
    problems.push(
      'ONECLAW_LOCAL_MASTER_KEY_FILE: set only one of ONECLAW_LOCAL_MASTER_KEY and ONECLAW_LOCAL_MASTER_KEY_FILE',
    );
  } else if (e.ONECLAW_LOCAL_MASTER_KEY) {
    masterKey = Buffer.from(e.ONECLAW_LOCAL_MASTER_KEY, 'base64');
  } else if (e.ONECLAW_LOCAL_MASTER_KEY_FILE) {
    try {
      masterKey = Buffer.from(readFileSync(e.ONECLAW_LOCAL_MASTER_KEY_FILE, 'utf8').trim(), 'base64');
      if (masterKey.length !== 32)
        problems.push('ONECLAW_LOCAL_MASTER_KEY_FILE: must hold base64 of 32 bytes');
    } catch {
      problems.push('ONECLAW_LOCAL_MASTER_KEY_FILE: cannot be read');
    }
  }
  if (masterKey) {
    // The master key belongs to the local key in use: the current one, or the previous one a
    // `kms migrate` is moving vaults away from.
    const local = [kmsKey, ...previousKeyUris(e)].find((u) => u?.startsWith('local://'));
    const name = local ? local.slice('local://'.length) : 'dev';
    kms.local = { masterKeys: { [name]: masterKey } };
  }
  if (e.ONECLAW_TRANSIT_ADDR || e.ONECLAW_TRANSIT_TOKEN) {
    if (!e.ONECLAW_TRANSIT_ADDR || !e.ONECLAW_TRANSIT_TOKEN) {
      problems.push(
        'ONECLAW_TRANSIT_ADDR: transit needs both ONECLAW_TRANSIT_ADDR and ONECLAW_TRANSIT_TOKEN',
      );
    } else {
      kms.transit = {
        address: e.ONECLAW_TRANSIT_ADDR,
        token: e.ONECLAW_TRANSIT_TOKEN,
        ...(e.ONECLAW_TRANSIT_NAMESPACE ? { namespace: e.ONECLAW_TRANSIT_NAMESPACE } : {}),
      };
    }
  }
  if (e.ONECLAW_AWS_KMS_ENDPOINT) kms.awskms = { endpoint: e.ONECLAW_AWS_KMS_ENDPOINT };
  if (e.ONECLAW_GCP_KMS_ENDPOINT) {
    const [host, port] = e.ONECLAW_GCP_KMS_ENDPOINT.split(':');
    kms.gcpkms = {
      apiEndpoint: host as string,
      ...(port ? { port: Number(port) } : {}),
      insecure: e.ONECLAW_GCP_KMS_INSECURE === 'true' || e.ONECLAW_GCP_KMS_INSECURE === '1',
    };
  }
  if (e.ONECLAW_PKCS11_PIN || e.ONECLAW_PKCS11_MODULE) {
    kms.pkcs11 = {
      ...(e.ONECLAW_PKCS11_PIN ? { pin: e.ONECLAW_PKCS11_PIN } : {}),
      ...(e.ONECLAW_PKCS11_MODULE ? { module: e.ONECLAW_PKCS11_MODULE } : {}),
    };
  }

  const checkUri = (name: string, uri: string | undefined) => {
    if (!uri) return;
    try {
      parseKeyUri(uri);
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  };
  checkUri('ONECLAW_KMS_KEY', kmsKey);
  checkUri('ONECLAW_SIGNING_KEY', e.ONECLAW_SIGNING_KEY);
  for (const uri of previousKeyUris(e)) checkUri('ONECLAW_KMS_PREVIOUS_KEYS', uri);

  const trustedProxies = (e.ONECLAW_TRUSTED_PROXIES ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  for (const cidr of trustedProxies) {
    if (!isCidr(cidr)) problems.push(`ONECLAW_TRUSTED_PROXIES: ${cidr} is not an IP address or CIDR`);
  }
  const k8s = k8sAuth(e, problems);
  const k8sAdmins = (e.ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  for (const a of k8sAdmins) {
    if (!/^system:serviceaccount:[a-z0-9]([a-z0-9.-]*[a-z0-9])?:[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(a)) {
      problems.push(
        `ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: ${a} is not system:serviceaccount:<namespace>:<name>`,
      );
    }
  }
  if (k8sAdmins.length && k8s.mode === 'off') {
    problems.push('ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: needs ONECLAW_K8S_AUTH (tokenreview or jwks)');
  }

  const [host, port] = splitListen(e.ONECLAW_LISTEN ?? '127.0.0.1:8080');
  if (port > 65535) problems.push('ONECLAW_LISTEN: port must be 0-65535 (0: any free port)');
  if (problems.length) throw new ConfigError(problems);

  return {
    profile,
    listen: { host, port },
    logLevel: e.ONECLAW_LOG_LEVEL ?? 'info',
    databaseUrl: e.ONECLAW_DATABASE_URL,
    dataDir,
    kmsKey: kmsKey as string,
    previousKmsKeys: previousKeyUris(e),
    signingKey: e.ONECLAW_SIGNING_KEY ?? 'local://jwt',
    signingKeyFile: e.ONECLAW_SIGNING_KEY_FILE,
    kms,
    kekCache: {
      ttlMs: Number(e.ONECLAW_KEK_CACHE_TTL_SECONDS ?? 300) * 1000,
      maxEntries: Number(e.ONECLAW_KEK_CACHE_MAX_ENTRIES ?? 1000),
    },
    maxSecretBytes: Number(e.ONECLAW_MAX_SECRET_BYTES ?? 65536),
    tokenTtlSeconds: Number(e.ONECLAW_TOKEN_TTL_SECONDS ?? 900),
    bootstrapAdminKey: e.ONECLAW_BOOTSTRAP_ADMIN_KEY,
    databasePoolMax: Number(e.ONECLAW_DATABASE_POOL_MAX ?? 20),
    jobLeaseMs: Number(e.ONECLAW_JOB_LEASE_MS ?? 15_000),
    tokenCacheMaxEntries: Number(e.ONECLAW_TOKEN_CACHE_MAX_ENTRIES ?? 10_000),
    trustedProxies,
    authRateLimitPerMinute: Number(e.ONECLAW_AUTH_RATE_LIMIT ?? 60),
    limits: {
      requestsPerSecond: Number(e.ONECLAW_RATE_LIMIT ?? DEFAULT_LIMITS.requestsPerSecond),
      adminRequestsPerSecond: Number(e.ONECLAW_ADMIN_RATE_LIMIT ?? DEFAULT_LIMITS.adminRequestsPerSecond),
      feedSubscriptionsPerPrincipal: Number(
        e.ONECLAW_FEED_MAX_PER_PRINCIPAL ?? DEFAULT_LIMITS.feedSubscriptionsPerPrincipal,
      ),
      kmsCallsPerSecond: Number(e.ONECLAW_KMS_BUDGET ?? DEFAULT_LIMITS.kmsCallsPerSecond),
    },
    k8s,
    k8sAdminServiceAccounts: k8sAdmins,
  };
}

function previousKeyUris(e: { ONECLAW_KMS_PREVIOUS_KEYS?: string | undefined }): string[] {
  return (e.ONECLAW_KMS_PREVIOUS_KEYS ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

function isCidr(s: string): boolean {
  const [addr, prefix, extra] = s.split('/');
  const family = isIP(addr ?? '');
  if (!family || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^[0-9]{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function k8sAuth(e: Env, problems: string[]): K8sAuthConfig {
  const audience = e.ONECLAW_K8S_AUDIENCE ?? 'oneclaw';
  const mode = e.ONECLAW_K8S_AUTH ?? 'off';
  if (mode === 'tokenreview') return { mode, audience, kubeconfig: e.ONECLAW_K8S_KUBECONFIG };
  if (mode === 'jwks') {
    if (!e.ONECLAW_K8S_ISSUER) problems.push('ONECLAW_K8S_ISSUER: required when ONECLAW_K8S_AUTH=jwks');
    return {
      mode,
      audience,
      issuer: e.ONECLAW_K8S_ISSUER ?? '',
      jwksUrl: e.ONECLAW_K8S_JWKS_URL,
      caFile: e.ONECLAW_K8S_CA_FILE,
      tokenFile: e.ONECLAW_K8S_TOKEN_FILE,
    };
  }
  return { mode: 'off' };
}

function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}
