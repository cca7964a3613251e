// The operator's HTTP endpoints, on every replica: /metrics, /healthz (liveness: the process
// answers) and /readyz (readiness: the API answers and, on the leader, the controllers run on
// synced caches).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** How long a successful API check counts towards readiness (the chart probes every 10 s). */
const API_FRESH_MS = 15_000;
/** Below the chart's probe timeout (3 s), so a hanging API fails the check, not the probe. */
const API_CHECK_TIMEOUT_MS = 2_000;

export interface HealthServer {
  /** Base URL of /metrics, /healthz and /readyz. */
  url: string;
  close(): Promise<void>;
}

export async function startHealthServer(opts: {
  listen: { host: string; port: number };
  registry: Registry;
  apiUrl: string;
  fetch?: typeof fetch;
  /** What keeps this replica from being ready, besides the API (the controllers' state). */
  problems(): string[];
}): Promise<HealthServer> {
  // The API answered /healthz within API_FRESH_MS; one check at a time, however many probes ask.
  const doFetch = opts.fetch ?? fetch;
  let apiOkAt = Number.NEGATIVE_INFINITY;
  let apiCheck: Promise<boolean> | undefined;
  const checkApi = async (): Promise<boolean> => {
    try {
      const res = await doFetch(`${opts.apiUrl}/healthz`, {
        signal: AbortSignal.timeout(API_CHECK_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) apiOkAt = Date.now();
      return res.ok;
    } catch {
      return false;
    }
  };
  const apiReachable = (): Promise<boolean> => {
    if (Date.now() - apiOkAt < API_FRESH_MS) return Promise.resolve(true);
    apiCheck ??= checkApi().finally(() => {
      apiCheck = undefined;
    });
    return apiCheck;
  };

  // Readiness does not depend on leadership: leader election gates the controllers only, and a
  // standby must count as available (a rollout waits for it; it takes over at once). A leader is
  // ready once its informer caches are filled, so it reconciles from a complete view.
  const notReady = async (): Promise<string[]> => {
    const problems = opts.problems();
    if (!(await apiReachable())) problems.push(`API ${opts.apiUrl} unreachable`);
    return problems;
  };

  const { registry } = opts;
  const json = { 'content-type': 'application/json' };
  const server: Server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === '/healthz') {
      // Liveness: answering at all shows the process is up and its event loop turning. Nothing
      // outside the process counts, or an API outage would restart every replica.
      res.writeHead(200, json).end('{"status":"ok"}');
    } else if (req.url === '/readyz') {
      notReady().then(
        (problems) =>
          problems.length
            ? res.writeHead(503, json).end(JSON.stringify({ status: 'not_ready', problems }))
            : res.writeHead(200, json).end('{"status":"ready"}'),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(opts.listen.port, opts.listen.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.listen.port;
  return {
    url: `http://${opts.listen.host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
