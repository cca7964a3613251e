// The environment variables oneclaw reads, as one schema: the API's (EnvSchema, parsed by
// api/src/config.ts) and which names belong to the operator (which validates its own in
// operator/src/config.ts). Both processes read it: with --embedded-api they share one
// environment, and each must tell the other's variables from a typo. A bad value is reported
// as a ConfigError, one line per problem naming the variable; values are never echoed (some of
// them are secrets).
import Type, { type Static } from 'typebox';

const Bool = Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('1'), Type.Literal('0')]);
const PositiveInt = Type.String({ pattern: '^[1-9][0-9]{0,9}$' });
const NonNegativeInt = Type.String({ pattern: '^(0|[1-9][0-9]{0,9})$' });
const Base64Key = Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$', description: 'base64 of 32 bytes' });

export const EnvSchema = Type.Object({
  ONECLAW_PROFILE: Type.Optional(Type.Union([Type.Literal('dev'), Type.Literal('production')])),
  ONECLAW_LISTEN: Type.Optional(
    Type.String({ pattern: '^(\\[[0-9a-fA-F:]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$' }),
  ),
  ONECLAW_LOG_LEVEL: Type.Optional(
    Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
  ),
  ONECLAW_DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  ONECLAW_DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_KMS_KEY: Type.Optional(Type.String({ pattern: '^[a-z0-9]+://' })),
  ONECLAW_KMS_PREVIOUS_KEYS: Type.Optional(Type.String()),
  ONECLAW_KMS_TIMEOUT_MS: Type.Optional(PositiveInt),
  ONECLAW_LOCAL_MASTER_KEY: Type.Optional(Base64Key),
  ONECLAW_LOCAL_MASTER_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_SIGNING_KEY: Type.Optional(Type.String({ pattern: '^[a-z0-9]+://' })),
  ONECLAW_SIGNING_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_TRANSIT_ADDR: Type.Optional(Type.String({ pattern: '^https?://' })),
  ONECLAW_TRANSIT_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_TRANSIT_NAMESPACE: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_AWS_KMS_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  ONECLAW_GCP_KMS_ENDPOINT: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$' })),
  ONECLAW_GCP_KMS_INSECURE: Type.Optional(Bool),
  ONECLAW_PKCS11_PIN: Type.Optional(Type.String({ minLength: 1 })),
  // The default module for pkcs11:// URIs without ?module= (the URI's must be absolute too).
  ONECLAW_PKCS11_MODULE: Type.Optional(Type.String({ pattern: '^/' })),
  ONECLAW_KEK_CACHE_TTL_SECONDS: Type.Optional(PositiveInt),
  ONECLAW_KEK_CACHE_MAX_ENTRIES: Type.Optional(PositiveInt),
  ONECLAW_MAX_SECRET_BYTES: Type.Optional(PositiveInt),
  ONECLAW_TOKEN_TTL_SECONDS: Type.Optional(PositiveInt),
  ONECLAW_BOOTSTRAP_ADMIN_KEY: Type.Optional(Type.String({ pattern: '^ocu_[A-Za-z0-9_-]{32,}$' })),
  ONECLAW_TOKEN_CACHE_MAX_ENTRIES: Type.Optional(NonNegativeInt),
  ONECLAW_DATABASE_POOL_MAX: Type.Optional(PositiveInt),
  ONECLAW_JOB_LEASE_MS: Type.Optional(PositiveInt),
  ONECLAW_TRUSTED_PROXIES: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_AUTH_RATE_LIMIT: Type.Optional(NonNegativeInt),
  ONECLAW_RATE_LIMIT: Type.Optional(NonNegativeInt),
  ONECLAW_ADMIN_RATE_LIMIT: Type.Optional(NonNegativeInt),
  ONECLAW_FEED_MAX_PER_PRINCIPAL: Type.Optional(NonNegativeInt),
  ONECLAW_KMS_BUDGET: Type.Optional(NonNegativeInt),
  ONECLAW_K8S_AUTH: Type.Optional(
    Type.Union([Type.Literal('off'), Type.Literal('tokenreview'), Type.Literal('jwks')]),
  ),
  ONECLAW_K8S_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  ONECLAW_K8S_KUBECONFIG: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_K8S_ISSUER: Type.Optional(Type.String({ pattern: '^https?://' })),
  ONECLAW_K8S_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  ONECLAW_K8S_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_K8S_TOKEN_FILE: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: Type.Optional(Type.String({ minLength: 1 })),
});
export type Env = Static<typeof EnvSchema>;

/** Variables of `oneclaw operator`, which validates them itself (operator/src/config.ts). */
export const isOperatorVariable = (name: string) =>
  name.startsWith('ONECLAW_OPERATOR_') || name === 'ONECLAW_API_URL';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
