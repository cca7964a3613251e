// An SDK client for a human command: the server and credentials from (in this order) the
// command line and environment (`--server`, ONECLAW_API_URL, ONECLAW_API_KEY with
// ONECLAW_AGENT_ID for an agent key), then what `oneclaw login` stored. A stored token still
// valid for 30 s is used first; otherwise the stored API key is exchanged again and the new
// token written back, so scripts do not hit the token endpoint's rate limit on every call.
// With a stored key the SDK also gets the key, so a long command (`cmek rotate`, `audit tail
// -f`) refreshes its token instead of failing with 401 when it expires. After `login
// --kubernetes` the pod's service-account token file plays the key's part.
import { readFile } from 'node:fs/promises';
import { type Credentials, createClient, type OneclawClient } from '../../../sdk/src/index.js';
import { loadCredentials, type StoredCredentials, saveCredentials } from './credentials.js';
import { CliError, EXIT } from './errors.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
const TOKEN_MARGIN_MS = 30_000;

export interface GlobalOptions {
  server?: string;
  output?: string;
}

const USER_AGENT = 'oneclaw-cli/0.1.0';

export function normalizeServer(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(EXIT.usage, `--server / ONECLAW_API_URL is not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new CliError(EXIT.usage, '--server / ONECLAW_API_URL must be an http(s) URL');
  }
  return u.toString().replace(/\/+$/, '');
}

/** `user:<id>`-style subject and expiry from a JWT, without verifying it (the server does). */
function tokenClaims(token: string): { sub?: string; exp?: number } {
  try {
    const part = token.split('.')[1] ?? '';
    const json = Buffer.from(part, 'base64url').toString('utf8');
    const claims = JSON.parse(json) as { sub?: unknown; exp?: unknown };
    return {
      ...(typeof claims.sub === 'string' ? { sub: claims.sub } : {}),
      ...(typeof claims.exp === 'number' ? { exp: claims.exp } : {}),
    };
  } catch {
    return {};
  }
}

export function credentialsForKey(apiKey: string, agentId: string | undefined): Credentials {
  if (apiKey.startsWith('ocv_')) {
    if (!agentId)
      throw new CliError(
        EXIT.usage,
        'an agent key (ocv_…) needs its agent id: --agent-id or ONECLAW_AGENT_ID',
      );
    return { agentId, apiKey };
  }
  if (apiKey.startsWith('ocu_')) return { apiKey };
  throw new CliError(EXIT.usage, 'not a oneclaw API key (expected ocu_… for a user or ocv_… for an agent)');
}

/** Where a pod's service-account token is looked for, in order: oneclaw's own projection first. */
export const KUBERNETES_TOKEN_FILES = [
  '/var/run/secrets/tokens/oneclaw',
  '/var/run/secrets/kubernetes.io/serviceaccount/token',
];

/** Credentials that exchange the service-account token in `file`, read anew each time. */
export function kubernetesCredentials(file: string): Credentials {
  return {
    kubernetesToken: async () => {
      try {
        return (await readFile(file, 'utf8')).trim();
      } catch (err) {
        throw new CliError(
          EXIT.auth,
          `cannot read the service-account token ${file}: ${(err as NodeJS.ErrnoException).code}`,
        );
      }
    },
  };
}

/** What renews the stored token: the kept API key or token file; undefined for a token only. */
function renewalOf(stored: StoredCredentials): Credentials | undefined {
  if (stored.api_key) return credentialsForKey(stored.api_key, stored.agent_id);
  if (stored.kubernetes_token_file) return kubernetesCredentials(stored.kubernetes_token_file);
  return undefined;
}

/** Exchanges a key for a token; returns the token and what it says about itself. */
export async function exchange(server: string, credentials: Credentials) {
  const client = createClient({ baseUrl: server, credentials, userAgent: USER_AGENT });
  const token = await client.token();
  const claims = tokenClaims(token);
  return {
    token,
    principal: claims.sub,
    expiresAt: claims.exp ? new Date(claims.exp * 1000).toISOString() : undefined,
  };
}

export async function openClient(g: GlobalOptions): Promise<OneclawClient> {
  const env = process.env;
  const explicit = g.server ?? env.ONECLAW_API_URL;
  if (env.ONECLAW_API_KEY) {
    const server = normalizeServer(explicit ?? loadCredentials()?.server ?? DEFAULT_SERVER);
    return createClient({
      baseUrl: server,
      credentials: credentialsForKey(env.ONECLAW_API_KEY.trim(), env.ONECLAW_AGENT_ID),
      userAgent: USER_AGENT,
    });
  }
  const stored = loadCredentials();
  if (!stored) throw new CliError(EXIT.auth, 'not logged in: run `oneclaw login` (or set ONECLAW_API_KEY)');
  const server = normalizeServer(stored.server);
  if (explicit && normalizeServer(explicit) !== server) {
    throw new CliError(
      EXIT.auth,
      `logged in to ${server}, not ${normalizeServer(explicit)}: run \`oneclaw login\``,
    );
  }
  const token = await currentToken(server, stored);
  const renewal = renewalOf(stored);
  if (!renewal) {
    // `login --no-store-key`: the token is all there is, until it expires.
    return createClient({
      baseUrl: server,
      credentials: { accessToken: token.token },
      userAgent: USER_AGENT,
    });
  }
  return createClient({
    baseUrl: server,
    credentials: renewal,
    ...(token.expiresAt ? { initialToken: { accessToken: token.token, expiresAt: token.expiresAt } } : {}),
    userAgent: USER_AGENT,
  });
}

/** The stored token if it is still good for a while, else a fresh one (stored too). */
async function currentToken(
  server: string,
  stored: StoredCredentials,
): Promise<{ token: string; expiresAt?: Date }> {
  const expires = stored.token_expires_at ? Date.parse(stored.token_expires_at) : Number.NaN;
  if (stored.access_token && Number.isFinite(expires) && expires - Date.now() > TOKEN_MARGIN_MS) {
    return { token: stored.access_token, expiresAt: new Date(expires) };
  }
  const renewal = renewalOf(stored);
  if (!renewal) {
    throw new CliError(
      EXIT.auth,
      'the stored token has expired and no API key was kept: run `oneclaw login`',
    );
  }
  const fresh = await exchange(server, renewal);
  saveCredentials({
    ...stored,
    access_token: fresh.token,
    ...(fresh.principal ? { principal: fresh.principal } : {}),
    ...(fresh.expiresAt ? { token_expires_at: fresh.expiresAt } : {}),
  });
  return { token: fresh.token, ...(fresh.expiresAt ? { expiresAt: new Date(fresh.expiresAt) } : {}) };
}
