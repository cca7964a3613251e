// Raw JSON requests to the apiserver with the credentials of a KubeConfig. The runtime uses this
// instead of the generated clients where it needs what they do not give: list pages and watch
// streams of any path with exact JSON (objects in the informer cache look the same whether they
// came from a list or a watch), request timeouts, and MicroTime fields (Lease) sent verbatim.
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';

/** An apiserver answer other than 2xx, or a failed watch (Status in an ERROR event). */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
    /** The Status `reason` (NotFound, Conflict, Expired, Gone, Invalid, ...), if the server sent one. */
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** HTTP status of an error from this module or from a generated client (ApiException.code). */
export function statusCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

export interface KubeRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute API path, e.g. `/api/v1/namespaces/ns/configmaps`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Defaults to application/json; PATCH needs a patch type. */
  contentType?:
    | 'application/json'
    | 'application/json-patch+json'
    | 'application/merge-patch+json'
    | 'application/apply-patch+yaml';
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Status {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
}

function isStatus(v: unknown): v is Status {
  return typeof v === 'object' && v !== null && (v as Status).kind === 'Status';
}

const agents = new WeakMap<KubeConfig, { key: string; agent: http.Agent }>();

/**
 * One keep-alive agent per KubeConfig in place of the new agent the KubeConfig makes for every
 * request, which would cost a TCP connection and a TLS handshake per request on both ends (the
 * apiserver's CPU is what bounds a large sync). A new one is made when the TLS material changes
 * (rotated client certificates); a proxy's agent is used as given.
 */
function sharedAgent(
  kc: KubeConfig,
  fresh: http.Agent | boolean | undefined,
): http.Agent | boolean | undefined {
  const isHttps = fresh instanceof https.Agent;
  if (!(isHttps || fresh?.constructor === http.Agent)) return fresh;
  const made = fresh as http.Agent & { options: https.AgentOptions };
  const o = made.options;
  const key = JSON.stringify(
    [o.ca, o.cert, o.key, o.pfx, o.passphrase, o.servername, o.rejectUnauthorized].map((v) =>
      v === undefined ? null : String(v),
    ),
  );
  const held = agents.get(kc);
  made.destroy();
  if (held?.key === key) return held.agent;
  const options = { ...o, keepAlive: true };
  const agent = isHttps ? new https.Agent(options) : new http.Agent(options);
  agents.set(kc, { key, agent });
  return agent;
}

async function open(
  kc: KubeConfig,
  req: KubeRequest & { accept?: string },
  watch: boolean,
): Promise<http.IncomingMessage> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
  for (const [k, v] of Object.entries(req.query ?? {}))
    if (v !== undefined) url.searchParams.set(k, String(v));
  if (watch) url.searchParams.set('watch', 'true');
  const body = req.body === undefined ? undefined : JSON.stringify(req.body);
  const opts: https.RequestOptions = {
    method: req.method ?? 'GET',
    headers: {
      accept: req.accept ?? 'application/json',
      ...(body === undefined
        ? {}
        : {
            'content-type': req.contentType ?? 'application/json',
            'content-length': Buffer.byteLength(body),
          }),
    },
  };
  // Adds TLS material, the bearer token (refreshed for exec/OIDC users) and an agent.
  await kc.applyToHTTPSOptions(opts);
  opts.agent = sharedAgent(kc, opts.agent);
  const client = url.protocol === 'http:' ? http : https;
  const send = (retry: boolean): Promise<http.IncomingMessage> =>
    new Promise((resolve, reject) => {
      const r = client.request(url, { ...opts, signal: req.signal }, resolve);
      r.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive connection the apiserver closed as idle just as it was reused: the request
        // never reached it, so it is sent once more on a new connection (as Node's docs advise).
        if (retry && r.reusedSocket && err.code === 'ECONNRESET') resolve(send(false));
        else reject(err);
      });
      if (req.timeoutMs !== undefined) {
        // For a watch this is an idle timeout: no byte for this long means the connection is dead.
        r.setTimeout(req.timeoutMs, () =>
          r.destroy(new Error(`request timed out after ${req.timeoutMs} ms`)),
        );
      }
      r.end(body);
    });
  return send(true);
}

async function readAll(res: http.IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res) text += chunk as string;
  return text;
}

function errorFrom(statusCode: number, text: string, what: string): KubeApiError {
  let status: Status | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (isStatus(parsed)) status = parsed;
  } catch {
    // not JSON: keep the HTTP status only
  }
  return new KubeApiError(
    `${what}: HTTP ${statusCode}${status?.message ? `: ${status.message}` : ''}`,
    statusCode,
    status?.reason,
  );
}

/** One request; resolves with the parsed JSON body, rejects with KubeApiError on a non-2xx answer. */
export async function kubeRequest<T>(kc: KubeConfig, req: KubeRequest): Promise<T> {
  const res = await open(kc, req, false);
  const text = await readAll(res);
  const code = res.statusCode ?? 0;
  if (code < 200 || code >= 300) throw errorFrom(code, text, `${req.method ?? 'GET'} ${req.path}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** One request whose answer is text, not JSON (the apiserver's /metrics); rejects like kubeRequest. */
export async function kubeText(
  kc: KubeConfig,
  req: Omit<KubeRequest, 'body' | 'contentType'>,
): Promise<string> {
  const res = await open(kc, { ...req, accept: 'text/plain' }, false);
  const text = await readAll(res);
  const code = res.statusCode ?? 0;
  if (code < 200 || code >= 300) throw errorFrom(code, text, `${req.method ?? 'GET'} ${req.path}`);
  return text;
}

export interface WatchEvent<T = unknown> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/**
 * Streams one watch. Resolves when the server ends the stream (timeoutSeconds elapsed, or it
 * shut down); rejects on a connection error, an idle timeout, a non-200 answer, or an ERROR
 * event (as KubeApiError with the Status code, e.g. 410 when the resourceVersion is too old).
 */
export async function kubeWatch(
  kc: KubeConfig,
  req: Omit<KubeRequest, 'method' | 'body' | 'contentType'>,
  onEvent: (ev: WatchEvent) => void,
): Promise<void> {
  const res = await open(kc, req, true);
  const code = res.statusCode ?? 0;
  if (code !== 200) throw errorFrom(code, await readAll(res), `watch ${req.path}`);
  const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      lines.close();
      res.destroy();
      if (err) reject(err);
      else resolve();
    };
    res.on('error', finish);
    lines.on('error', finish); // readline re-emits the input's errors
    res.on('close', () => {
      if (!res.complete) finish(new Error(`watch ${req.path}: connection closed mid-stream`));
    });
    lines.on('close', () => finish());
    lines.on('line', (line) => {
      if (settled || !line.trim()) return;
      let ev: WatchEvent;
      try {
        ev = JSON.parse(line) as WatchEvent;
      } catch {
        finish(new Error(`watch ${req.path}: unparseable event`));
        return;
      }
      if (ev.type === 'ERROR') {
        const s = isStatus(ev.object) ? ev.object : {};
        finish(new KubeApiError(`watch ${req.path}: ${s.message ?? 'error event'}`, s.code ?? 500, s.reason));
        return;
      }
      try {
        onEvent(ev);
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

/** `/api/v1` for `v1`, `/apis/<group>/<version>` for `<group>/<version>`. */
export function apiPrefix(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** Path of a namespaced collection, or of one object in it when `name` is given. */
export function namespacedPath(apiVersion: string, plural: string, namespace: string, name?: string): string {
  const base = `${apiPrefix(apiVersion)}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}
