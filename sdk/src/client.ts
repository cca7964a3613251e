// The typed oneclaw client: the REST API of SPEC §4 over the global fetch (Node ≥ 20 and
// browsers); its types and operations come from the wire contract (contract/src, typebox only).
//
// - Tokens are exchanged lazily from the credentials, cached, and exchanged again when within
//   60 s of expiry (half the lifetime for tokens shorter than two minutes). Concurrent callers
//   share one in-flight exchange; an early refresh that fails for a passing reason keeps the
//   token in hand while it is still valid. A 401 `token_expired` or `principal_revoked` drops
//   the token, exchanges once more and repeats the request once; a second refusal is thrown.
// - Every attempt has a deadline (`timeoutMs`, plus the long-poll wait for the change feed),
//   combined with the caller's signal where there is one.
// - GET, PUT and DELETE (and the token exchanges) are retried on 429 (after Retry-After), 503
//   and connection failures, with exponential backoff and jitter. Other POSTs and PATCHes are
//   retried on 429 only: the rate limiter refuses before any handler runs, whereas after a 503
//   or a dropped connection the server may have acted. A timeout is not retried: `timeoutMs`
//   bounds how long a caller waits.
// - Errors are `OneclawError`s whose messages never hold an API key, a token or a value sent.
import { type BackoffOptions, backoffDelay, EQUAL_JITTER } from '../../common/src/backoff.js';
import { type CmekApi, createCmekApi } from './cmek-client.js';
import { ABORTED, NETWORK_ERROR, OneclawError, redact, TIMEOUT } from './errors.js';
import {
  deadline,
  describeNetworkError,
  followRetries,
  parseJson,
  type Query,
  queryString,
  retryAfterMs,
  sleep,
  withSignal,
} from './http.js';
import { type Endpoint, endpoint, secretPath, seg } from './operations.js';
import type {
  Agent,
  AgentCreateInput,
  AgentUpdateInput,
  AgentWithKey,
  AuditPage,
  AuditQuery,
  AuditVerifyResult,
  EventsPage,
  Job,
  Policy,
  PolicyCreateInput,
  Secret,
  SecretList,
  SecretMeta,
  SecretPutInput,
  SecretWriteResult,
  TokenResponse,
  User,
  UserCreateInput,
  UserUpdateInput,
  UserWithKey,
  Vault,
  VaultCreateInput,
  VaultEvent,
  VaultOwner,
  VaultUpdateInput,
  VersionMeta,
} from './types.js';

export type Credentials =
  /** A user's API key (`ocu_…`), exchanged at `POST /v1/auth/token`. */
  | { apiKey: string }
  /** An agent's id and API key (`ocv_…`), exchanged at `POST /v1/auth/agent-token`. */
  | { agentId: string; apiKey: string }
  /**
   * A source of Kubernetes service-account tokens (e.g. reading the projected token file),
   * exchanged at `POST /v1/auth/k8s-token`; called again on every exchange.
   */
  | { kubernetesToken: () => Promise<string> }
  /** A bearer token used as it is: never exchanged or refreshed. */
  | { accessToken: string };

export interface ClientOptions {
  /** The API's origin (and path prefix, if any), e.g. `https://oneclaw.example.com`. */
  baseUrl: string;
  credentials: Credentials;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
  /** Deadline of each attempt, in ms (default 10 000). Long polls get their wait on top. */
  timeoutMs?: number;
  /**
   * Retries after 429 (every request), or after 503 or a connection failure (idempotent
   * requests only); default 3.
   */
  retries?: number;
  /**
   * A token already exchanged from `credentials` (e.g. stored by a CLI between runs), used
   * until it is due for refresh instead of exchanging at once. Ignored with `accessToken`.
   */
  initialToken?: { accessToken: string; expiresAt: Date };
  /** The User-Agent header (outside browsers; default `oneclaw-sdk/<version>`). */
  userAgent?: string;
}

export interface EventsPollOptions {
  /** The cursor: the id of the last event seen (default: from the beginning). */
  after?: string;
  /** Seconds to wait for an event when there is none (0–60; default 0). */
  wait?: number;
  /** Events per response (1–1000; default 100). */
  limit?: number;
  signal?: AbortSignal;
}

export interface EventsFollowOptions {
  /** The cursor to resume after (default: from the beginning of the vault's feed). */
  after?: string;
  /** Ends the iteration (without an error) when it aborts. */
  signal: AbortSignal;
}

export interface OneclawClient {
  vaults: {
    create(input: VaultCreateInput): Promise<Vault>;
    /** With `owner_uid`, only the vault that Kubernetes object owns (none or one). */
    list(opts?: { owner_uid?: string }): Promise<Vault[]>;
    get(id: string): Promise<Vault>;
    update(id: string, patch: VaultUpdateInput): Promise<Vault>;
    /** With `purge`, crypto-shreds: nothing in the vault can ever be decrypted again. */
    delete(id: string, opts?: { purge?: boolean }): Promise<void>;
    rotateKek(id: string): Promise<Job>;
    /** Records the owner of a vault that has none (admins); an owner never changes. */
    setOwner(id: string, owner: VaultOwner): Promise<Vault>;
  };
  secrets: {
    put(vaultId: string, path: string, input: SecretPutInput): Promise<SecretWriteResult>;
    get(vaultId: string, path: string, opts?: { version?: number }): Promise<Secret>;
    list(vaultId: string, opts?: { prefix?: string; cursor?: string; limit?: number }): Promise<SecretList>;
    /** Every secret under `prefix`, page after page (`pageSize` per request). */
    listAll(vaultId: string, opts?: { prefix?: string; pageSize?: number }): AsyncIterable<SecretMeta>;
    versions(vaultId: string, path: string): Promise<VersionMeta[]>;
    /** Soft-deletes; with `destroy`, destroys every version's key irrecoverably. */
    delete(vaultId: string, path: string, opts?: { destroy?: boolean }): Promise<void>;
  };
  policies: {
    create(vaultId: string, input: PolicyCreateInput): Promise<Policy>;
    list(vaultId: string): Promise<Policy[]>;
    delete(vaultId: string, policyId: string): Promise<void>;
  };
  agents: {
    create(input: AgentCreateInput): Promise<AgentWithKey>;
    list(): Promise<Agent[]>;
    get(id: string): Promise<Agent>;
    update(id: string, patch: AgentUpdateInput): Promise<Agent>;
    delete(id: string): Promise<void>;
    rotateKey(id: string): Promise<AgentWithKey>;
  };
  users: {
    create(input: UserCreateInput): Promise<UserWithKey>;
    list(): Promise<User[]>;
    update(id: string, patch: UserUpdateInput): Promise<User>;
    rotateKey(id: string): Promise<UserWithKey>;
  };
  jobs: {
    get(id: string): Promise<Job>;
  };
  events: {
    /** One long poll: at once if events exist after `after`, else within `wait` seconds. */
    poll(vaultId: string, opts?: EventsPollOptions): Promise<EventsPage>;
    /**
     * The vault's events as they happen: long polls (wait 30 s) from the cursor on, retried with
     * backoff on network errors, timeouts, 429 and 5xx gateway/availability answers; ends when
     * `signal` aborts. Any other error (403, 404, 401 after a refresh…) ends it with that error.
     */
    follow(vaultId: string, opts: EventsFollowOptions): AsyncIterable<VaultEvent>;
  };
  audit: {
    list(opts?: AuditQuery): Promise<AuditPage>;
    verify(): Promise<AuditVerifyResult>;
  };
  /** Customer-managed keys: enable/disable, encrypted reads and writes, both kinds of rotation. */
  cmek: CmekApi;
  kms: {
    /**
     * Re-wraps KEKs still under one of the server's previous KMS keys with its current key, for
     * one vault or all (admins); a job of kind `kms-migrate` to follow with `jobs.get`.
     */
    migrate(opts?: { vaultId?: string }): Promise<Job>;
  };
  /** The current access token (exchanging or refreshing as needed). */
  token(): Promise<string>;
}

export const SDK_VERSION = '0.1.0';
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RETRIES = 3;
/** Refresh this long before expiry (at most half the token's lifetime). */
const REFRESH_MARGIN_MS = 60_000;
/** After an early refresh failed for a passing reason, the next attempt waits this long. */
const REFRESH_COOLDOWN_MS = 5_000;
const REQUEST_BACKOFF: BackoffOptions = { baseMs: 200, maxMs: 5_000, jitter: EQUAL_JITTER };
/** A Retry-After longer than this is not waited for: the error is thrown. */
const MAX_RETRY_AFTER_MS = 60_000;
const FOLLOW_WAIT_S = 30;
const FOLLOW_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000, jitter: EQUAL_JITTER };
/** Codes the server uses when a fresh token may succeed where the one sent failed. */
const REFRESHABLE = new Set(['token_expired', 'principal_revoked']);

/** One API request, as the resource modules describe it to the transport; `endpoint()` makes its target. */
export interface Call extends Endpoint {
  query?: Query;
  body?: unknown;
  /** Extra request headers (e.g. the CMEK rotation keys: list them in `sensitive` too). */
  headers?: Record<string, string>;
  /** Send a bearer token (default true). */
  auth?: boolean;
  /**
   * Retry on 503 and connection failures (default: GET, PUT and DELETE). Every request is
   * retried on 429 (nothing was done) unless this is `false`.
   */
  retry?: boolean;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  /** Strings the request carries that must never appear in an error message. */
  sensitive?: Array<string | undefined>;
}

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

export function createClient(opts: ClientOptions): OneclawClient {
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const fetchImpl: typeof fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = Math.max(0, opts.retries ?? DEFAULT_RETRIES);
  const isBrowser = typeof (globalThis as { document?: unknown }).document !== 'undefined';
  const userAgent = opts.userAgent ?? (isBrowser ? undefined : `oneclaw-sdk/${SDK_VERSION}`);
  const creds = opts.credentials;
  const credentialSecret = 'apiKey' in creds ? creds.apiKey : undefined;

  // --- transport ------------------------------------------------------------------------

  async function send(c: Call, token: string | undefined): Promise<RawResponse> {
    const what = `${c.method} ${c.path}`;
    const headers: Record<string, string> = { ...c.headers, accept: 'application/json' };
    if (userAgent) headers['user-agent'] = userAgent;
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (c.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(c.body);
    }
    const ms = c.timeoutMs ?? timeoutMs;
    const d = deadline(ms, c.signal);
    try {
      const res = await fetchImpl(baseUrl + c.path + queryString(c.query), {
        method: c.method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: d.signal,
        redirect: 'error',
      });
      // Read the body under the same deadline.
      const text = await res.text();
      return { status: res.status, headers: res.headers, text };
    } catch (err) {
      if (c.signal?.aborted) throw new OneclawError(0, ABORTED, `${what}: aborted by the caller`);
      if (d.timedOut()) throw new OneclawError(0, TIMEOUT, `${what}: no answer within ${ms} ms`);
      throw new OneclawError(0, NETWORK_ERROR, `${what}: network error${describeNetworkError(err)}`);
    } finally {
      d.done();
    }
  }

  function toError(res: RawResponse, c: Call, secrets: Array<string | undefined>): OneclawError {
    const headerId = res.headers.get('x-request-id') ?? undefined;
    const env = parseJson(res.text) as {
      error?: { code?: unknown; message?: unknown; request_id?: unknown };
    };
    const e = env && typeof env === 'object' ? env.error : undefined;
    if (e && typeof e.code === 'string') {
      const message = typeof e.message === 'string' ? redact(e.message, secrets) : e.code;
      const requestId = typeof e.request_id === 'string' ? e.request_id : headerId;
      return new OneclawError(res.status, e.code, message, requestId);
    }
    // Not the API's envelope (a proxy, a load balancer): say so without echoing the body.
    return new OneclawError(
      res.status,
      `http_${res.status}`,
      `${c.method} ${c.path}: HTTP ${res.status}`,
      headerId,
    );
  }

  /** One API call: token, attempts, retries, the one refresh after a 401. */
  async function call<T>(c: Call): Promise<T> {
    const retryable = c.retry ?? (c.method === 'GET' || c.method === 'PUT' || c.method === 'DELETE');
    // A 429 comes from the rate limiter, before any handler ran: safe to resend even a POST.
    const retriesOn = (status: number) => (status === 429 ? c.retry !== false : status === 503 && retryable);
    const auth = c.auth ?? true;
    let attempt = 0;
    let refreshed = false;
    for (;;) {
      const token = auth ? await tokens.get(c.signal) : undefined;
      const secrets = [token, credentialSecret, ...(c.sensitive ?? [])];
      let res: RawResponse;
      try {
        res = await send(c, token);
      } catch (err) {
        // A PUT writes a new version: after a dropped connection it may have committed, so it is
        // not sent again (429 and 503 answers are safe to retry: nothing was written).
        if (
          err instanceof OneclawError &&
          err.code === NETWORK_ERROR &&
          retryable &&
          c.method !== 'PUT' &&
          attempt < retries
        ) {
          await sleep(backoffDelay(attempt++, REQUEST_BACKOFF), c.signal);
          continue;
        }
        throw err;
      }
      if (res.status >= 200 && res.status < 300) {
        if (res.status === 204 || res.text === '') return undefined as T;
        const parsed = parseJson(res.text);
        if (parsed === undefined) {
          throw new OneclawError(
            res.status,
            'invalid_response',
            `${c.method} ${c.path}: the response is not JSON`,
            res.headers.get('x-request-id') ?? undefined,
          );
        }
        return parsed as T;
      }
      const err = toError(res, c, secrets);
      if (
        res.status === 401 &&
        token !== undefined &&
        tokens.refreshable &&
        !refreshed &&
        REFRESHABLE.has(err.code)
      ) {
        refreshed = true;
        tokens.invalidate(token);
        continue;
      }
      if (retriesOn(res.status) && attempt < retries) {
        const wait = retryAfterMs(res.headers.get('retry-after')) ?? backoffDelay(attempt, REQUEST_BACKOFF);
        if (wait > MAX_RETRY_AFTER_MS) throw err;
        attempt++;
        await sleep(wait, c.signal);
        continue;
      }
      throw err;
    }
  }

  // --- tokens ---------------------------------------------------------------------------

  const tokens = (() => {
    /**
     * A token held from `from` until `expiresAt`: when to exchange again (60 s early, at most
     * half-way) and until when it may still be used if that fails.
     */
    function schedule(token: string, from: number, expiresAt: number) {
      const ttl = Math.max(0, expiresAt - from);
      return {
        token,
        refreshAt: expiresAt - Math.min(REFRESH_MARGIN_MS, ttl / 2),
        usableUntil: expiresAt - Math.min(5_000, ttl / 4),
      };
    }

    const given = 'accessToken' in creds ? undefined : opts.initialToken;
    let current: ReturnType<typeof schedule> | undefined = given
      ? schedule(given.accessToken, Date.now(), given.expiresAt.getTime())
      : undefined;
    let inflight: Promise<string> | undefined;

    async function exchange(): Promise<string> {
      if ('accessToken' in creds) return creds.accessToken;
      const sentAt = Date.now();
      let res: TokenResponse;
      if ('kubernetesToken' in creds) {
        const token = await creds.kubernetesToken();
        res = await call<TokenResponse>({
          ...endpoint('auth.k8sToken'),
          body: { token },
          auth: false,
          retry: true,
          sensitive: [token],
        });
      } else if ('agentId' in creds) {
        res = await call<TokenResponse>({
          ...endpoint('auth.agentToken'),
          body: { agent_id: creds.agentId, api_key: creds.apiKey },
          auth: false,
          retry: true,
        });
      } else {
        res = await call<TokenResponse>({
          ...endpoint('auth.token'),
          body: { api_key: creds.apiKey },
          auth: false,
          retry: true,
        });
      }
      if (!res || typeof res.access_token !== 'string' || typeof res.expires_in !== 'number') {
        throw new OneclawError(200, 'invalid_response', 'the token exchange answered without a token');
      }
      current = schedule(res.access_token, sentAt, sentAt + res.expires_in * 1000);
      return res.access_token;
    }

    /**
     * An early refresh that failed for a passing reason (no answer, 429, 5xx) while the token in
     * hand is still good: keep using it, and try again in a few seconds rather than on every call.
     */
    function keepCurrent(err: unknown): string {
      const held = current;
      const passing =
        err instanceof OneclawError && (err.status === 0 || err.status === 429 || err.status >= 500);
      if (!held || !passing || Date.now() >= held.usableUntil) throw err;
      held.refreshAt = Math.min(held.usableUntil, Date.now() + REFRESH_COOLDOWN_MS);
      return held.token;
    }

    return {
      refreshable: !('accessToken' in creds),
      get(signal?: AbortSignal): Promise<string> {
        if ('accessToken' in creds) return Promise.resolve(creds.accessToken);
        if (current && Date.now() < current.refreshAt) return Promise.resolve(current.token);
        // One exchange at a time, whoever asks; a caller's abort does not cancel it for others.
        inflight ??= exchange()
          .catch(keepCurrent)
          .finally(() => {
            inflight = undefined;
          });
        return withSignal(inflight, signal);
      },
      /** Forget `token` if it is still the cached one (a newer one is kept). */
      invalidate(token: string): void {
        if (current?.token === token) current = undefined;
      },
    };
  })();

  // --- resources ------------------------------------------------------------------------

  // Path parameters, each checked and encoded.
  const vault = (id: string) => ({ vault_id: seg(id, 'vault id') });
  const agent = (id: string) => ({ id: seg(id, 'agent id') });
  const user = (id: string) => ({ id: seg(id, 'user id') });
  const secret = (vaultId: string, path: string) => ({ ...vault(vaultId), path: secretPath(path) });

  async function* listAll(vaultId: string, o: { prefix?: string; pageSize?: number } = {}) {
    let cursor: string | undefined;
    do {
      const page: SecretList = await call<SecretList>({
        ...endpoint('secrets.list', vault(vaultId)),
        query: { prefix: o.prefix, cursor, limit: o.pageSize },
      });
      yield* page.secrets;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  const poll = async (vaultId: string, o: EventsPollOptions = {}) =>
    call<EventsPage>({
      ...endpoint('events.poll', vault(vaultId)),
      query: { after: o.after, wait: o.wait, limit: o.limit },
      signal: o.signal,
      timeoutMs: timeoutMs + (o.wait ?? 0) * 1000,
    });

  async function* follow(vaultId: string, o: EventsFollowOptions): AsyncGenerator<VaultEvent> {
    const { signal } = o;
    let cursor = o.after;
    let failures = 0;
    while (!signal.aborted) {
      let page: EventsPage;
      try {
        page = await poll(vaultId, { after: cursor, wait: FOLLOW_WAIT_S, signal });
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        if (!(err instanceof OneclawError) || !followRetries(err)) throw err;
        try {
          await sleep(backoffDelay(failures++, FOLLOW_BACKOFF), signal);
        } catch {
          return; // aborted while waiting
        }
        continue;
      }
      for (const e of page.events) {
        yield e;
        if (signal.aborted) return;
      }
      cursor = page.next_cursor;
    }
  }

  const client: OneclawClient = {
    vaults: {
      create: async (input) => call({ ...endpoint('vaults.create'), body: input }),
      list: async (o) =>
        (
          await call<{ vaults: Vault[] }>({
            ...endpoint('vaults.list'),
            query: { owner_uid: o?.owner_uid },
          })
        ).vaults,
      get: async (id) => call(endpoint('vaults.get', vault(id))),
      update: async (id, patch) => call({ ...endpoint('vaults.update', vault(id)), body: patch }),
      delete: async (id, o) =>
        call({ ...endpoint('vaults.delete', vault(id)), query: { purge: o?.purge ? true : undefined } }),
      rotateKek: async (id) => call(endpoint('vaults.rotateKek', vault(id))),
      setOwner: async (id, owner) => call({ ...endpoint('vaults.setOwner', vault(id)), body: owner }),
    },
    secrets: {
      put: async (vaultId, path, input) =>
        call({
          ...endpoint('secrets.put', secret(vaultId, path)),
          body: input,
          sensitive: [input.value],
        }),
      get: async (vaultId, path, o) =>
        call({ ...endpoint('secrets.get', secret(vaultId, path)), query: { version: o?.version } }),
      list: async (vaultId, o) =>
        call({
          ...endpoint('secrets.list', vault(vaultId)),
          query: { prefix: o?.prefix, cursor: o?.cursor, limit: o?.limit },
        }),
      listAll: (vaultId, o) => listAll(vaultId, o),
      versions: async (vaultId, path) =>
        (await call<{ versions: VersionMeta[] }>(endpoint('secrets.versions', secret(vaultId, path))))
          .versions,
      delete: async (vaultId, path, o) =>
        call({
          ...endpoint('secrets.delete', secret(vaultId, path)),
          query: { destroy: o?.destroy ? true : undefined },
        }),
    },
    policies: {
      create: async (vaultId, input) => call({ ...endpoint('policies.create', vault(vaultId)), body: input }),
      list: async (vaultId) =>
        (await call<{ policies: Policy[] }>(endpoint('policies.list', vault(vaultId)))).policies,
      delete: async (vaultId, policyId) =>
        call(endpoint('policies.delete', { ...vault(vaultId), policy_id: seg(policyId, 'policy id') })),
    },
    agents: {
      create: async (input) => call({ ...endpoint('agents.create'), body: input }),
      list: async () => (await call<{ agents: Agent[] }>(endpoint('agents.list'))).agents,
      get: async (id) => call(endpoint('agents.get', agent(id))),
      update: async (id, patch) => call({ ...endpoint('agents.update', agent(id)), body: patch }),
      delete: async (id) => call(endpoint('agents.delete', agent(id))),
      rotateKey: async (id) => call(endpoint('agents.rotateKey', agent(id))),
    },
    users: {
      create: async (input) => call({ ...endpoint('users.create'), body: input }),
      list: async () => (await call<{ users: User[] }>(endpoint('users.list'))).users,
      update: async (id, patch) => call({ ...endpoint('users.update', user(id)), body: patch }),
      rotateKey: async (id) => call(endpoint('users.rotateKey', user(id))),
    },
    jobs: {
      get: async (id) => call(endpoint('jobs.get', { job_id: seg(id, 'job id') })),
    },
    events: {
      poll,
      follow: (vaultId, o) => follow(vaultId, o),
    },
    audit: {
      list: async (o) =>
        call({
          ...endpoint('audit.list'),
          query: { vault_id: o?.vault_id, after: o?.after, limit: o?.limit },
        }),
      verify: async () => call(endpoint('audit.verify')),
    },
    // The CMEK wrappers build on the other namespaces of this same client.
    cmek: createCmekApi({ call, vault, client: () => client }),
    kms: {
      migrate: async (o) =>
        call({ ...endpoint('kms.migrate'), body: o?.vaultId ? { vault_id: o.vaultId } : {} }),
    },
    token: () => tokens.get(),
  };
  return client;
}
