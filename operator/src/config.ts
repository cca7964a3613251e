// The operator's configuration: ONECLAW_OPERATOR_* and ONECLAW_API_URL, parsed once at start,
// with one line per bad value (never echoing it). Kubernetes credentials come from the pod
// (in-cluster) or KUBECONFIG.
import Type, { type TSchema } from 'typebox';
import Value from 'typebox/value';
import { ConfigError, EnvSchema, isOperatorVariable } from '../../common/src/environment.js';

const Bool = Type.Union([Type.Literal('true'), Type.Literal('false')]);

export const OperatorEnvSchema = Type.Object({
  ONECLAW_API_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  ONECLAW_OPERATOR_NAMESPACE: Type.Optional(Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' })),
  ONECLAW_OPERATOR_SERVICE_ACCOUNT: Type.Optional(
    Type.String({ pattern: '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$' }),
  ),
  ONECLAW_OPERATOR_TOKEN_FILE: Type.Optional(Type.String({ minLength: 1 })),
  ONECLAW_OPERATOR_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  ONECLAW_OPERATOR_METRICS_LISTEN: Type.Optional(
    Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]+:[0-9]{1,5}$' }),
  ),
  ONECLAW_OPERATOR_LEADER_ELECTION: Type.Optional(Bool),
  ONECLAW_OPERATOR_CONCURRENCY: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$' })),
  ONECLAW_OPERATOR_WATCH_NAMESPACE: Type.Optional(
    Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' }),
  ),
  ONECLAW_OPERATOR_ADMIN_SERVICE_ACCOUNTS: Type.Optional(Type.String({ minLength: 1, maxLength: 65536 })),
});

const PRINCIPAL = /^system:serviceaccount:[a-z0-9]([a-z0-9.-]*[a-z0-9])?:[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

export interface OperatorConfig {
  /** Undefined with --embedded-api (the API in the same process). */
  apiUrl: string | undefined;
  /** Where the Lease lives and, without a token file, the operator's own service account. */
  namespace: string;
  serviceAccount: string;
  /** A projected service-account token (audience `audience`), re-read on every exchange. */
  tokenFile: string | undefined;
  /** The audience of tokens presented to the API (the API's ONECLAW_K8S_AUDIENCE). */
  audience: string;
  metricsListen: { host: string; port: number };
  leaderElection: boolean;
  concurrency: number;
  /** Only this namespace's resources (a namespaced install); undefined: every namespace. */
  watchNamespace: string | undefined;
  /**
   * The API's org-admin service accounts (`system:serviceaccount:<namespace>:<name>`): a
   * SecretSync may never read as one. The operator's own account is refused whether listed or not.
   */
  adminServiceAccounts?: string[];
}

export function loadOperatorConfig(
  env: NodeJS.ProcessEnv = process.env,
  opts: { embeddedApi?: boolean } = {},
): OperatorConfig {
  const problems: string[] = [];
  const props = OperatorEnvSchema.properties as unknown as Record<string, TSchema>;
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('ONECLAW_') || value === undefined || value === '') continue;
    const schema = props[name];
    if (!schema) {
      if (isOperatorVariable(name) && !(name in EnvSchema.properties))
        problems.push(`${name}: unknown variable (typo?)`);
      continue;
    }
    if ([...Value.Errors(schema, value)].length) problems.push(`${name}: not a valid value`);
  }
  const apiUrl = env.ONECLAW_API_URL || undefined;
  if (!apiUrl && !opts.embeddedApi) problems.push('ONECLAW_API_URL: required (or run with --embedded-api)');
  // The API's own list when the operator shares its environment (--embedded-api, dev).
  const adminsVar = env.ONECLAW_OPERATOR_ADMIN_SERVICE_ACCOUNTS
    ? 'ONECLAW_OPERATOR_ADMIN_SERVICE_ACCOUNTS'
    : 'ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS';
  const adminServiceAccounts = (env[adminsVar] ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (adminServiceAccounts.some((a) => !PRINCIPAL.test(a)))
    problems.push(`${adminsVar}: each entry must be system:serviceaccount:<namespace>:<name>`);
  if (problems.length) throw new ConfigError(problems);
  const listen = env.ONECLAW_OPERATOR_METRICS_LISTEN ?? '127.0.0.1:8081';
  const i = listen.lastIndexOf(':');
  return {
    apiUrl: apiUrl?.replace(/\/+$/, ''),
    namespace: env.ONECLAW_OPERATOR_NAMESPACE ?? 'oneclaw-system',
    serviceAccount: env.ONECLAW_OPERATOR_SERVICE_ACCOUNT ?? 'oneclaw-operator',
    tokenFile: env.ONECLAW_OPERATOR_TOKEN_FILE || undefined,
    audience: env.ONECLAW_OPERATOR_AUDIENCE ?? env.ONECLAW_K8S_AUDIENCE ?? 'oneclaw',
    metricsListen: { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) },
    leaderElection: env.ONECLAW_OPERATOR_LEADER_ELECTION !== 'false',
    concurrency: Number(env.ONECLAW_OPERATOR_CONCURRENCY ?? 4),
    watchNamespace: env.ONECLAW_OPERATOR_WATCH_NAMESPACE || undefined,
    adminServiceAccounts,
  };
}
