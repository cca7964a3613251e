// What many SecretSyncs cost, counted at a proxy in front of the apiserver and at the operator's
// fetch: one TokenRequest and one token exchange per service account however many syncs read
// as it, a Secret and one status write per new sync (and one Event), and vaults looked up by
// their recorded id rather than by listing the org's vaults on every reconcile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestOperator } from '../../test/support/operator.js';
import type { RunningOperator } from './operator.js';
import { eventually } from './runtime/test-helpers.js';
import {
  type CountingKubeProxy,
  countingKubeProxy,
  type KubeWrite,
  type OperatorSuite,
  operatorSuite,
} from './test-helpers.js';

const SYNCS = 24;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('operator at scale', () => {
  let suite: OperatorSuite;
  let proxy: CountingKubeProxy;
  let operator: RunningOperator;
  /** The operator's API requests: method and path with query. */
  const apiCalls: string[] = [];
  const counting: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    apiCalls.push(
      `${init?.method ?? (input instanceof Request ? input.method : 'GET')} ${url.pathname}${url.search}`,
    );
    if (!decodeURIComponent(url.pathname).includes('/secrets/app/multi/')) return fetch(input, init);
    // Reads of the multi/ secrets are held a moment, so reads made together overlap.
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return sleep(200)
      .then(() => fetch(input, init))
      .finally(() => {
        inFlight--;
      });
  };
  let inFlight = 0;
  let maxInFlight = 0;
  /** Writes to what the operator manages: not the Lease it renews, not the tokens it mints. */
  const objectWrites = () =>
    proxy.writes.filter((w) => !/\/leases(\/|$)/.test(w.path) && !w.path.endsWith('/token'));
  const count = (writes: KubeWrite[], method: string, pattern: RegExp) =>
    writes.filter((w) => w.method === method && pattern.test(w.path)).length;

  beforeAll(async () => {
    suite = await operatorSuite('opscale', ['app', 'other']);
    proxy = await countingKubeProxy(suite.kc);
    operator = await startTestOperator({
      api: suite.api,
      kube: suite.kube,
      kubeConfig: proxy.kubeConfig,
      fetch: counting,
    });
    const vaultId = await suite.createReadyVault('v', {
      access: [
        { serviceAccount: 'app', paths: ['app/**'], permissions: ['read'] },
        { serviceAccount: 'other', paths: ['app/**'], permissions: ['read'] },
      ],
    });
    for (let i = 0; i < SYNCS; i++) await suite.put(vaultId, `app/s${i}`, `value-${i}`);
    const create = (i: number) =>
      suite.createSync(`s${i}`, {
        vaultRef: { name: 'v' },
        serviceAccountName: i % 2 ? 'app' : 'other',
        data: [{ secretKey: 'value', path: `app/s${i}` }],
      });
    // The first one alone: once it has synced, the vault's change feed is followed, and the
    // others (created together) are read once each.
    await create(0);
    await eventually('s0 synced', async () => (await suite.readSecret('s0'))?.value === 'value-0');
    await Promise.all(Array.from({ length: SYNCS - 1 }, (_, i) => create(i + 1)));
    for (let i = 0; i < SYNCS; i++) {
      await eventually(`s${i} synced`, async () => (await suite.readSecret(`s${i}`))?.value === `value-${i}`);
    }
    await eventually(
      'writes settle',
      async () => {
        const before = objectWrites().length;
        await sleep(1_500);
        return objectWrites().length === before;
      },
      30_000,
    );
  });
  afterAll(async () => {
    await operator?.stop();
    await proxy?.close();
    await suite?.close();
  });

  it('mints one token and exchanges it once per service account, not per SecretSync', () => {
    expect(count(proxy.writes, 'POST', /\/serviceaccounts\/app\/token$/)).toBe(1);
    expect(count(proxy.writes, 'POST', /\/serviceaccounts\/other\/token$/)).toBe(1);
    // The two accounts' exchanges and the operator's own.
    expect(apiCalls.filter((c) => c === 'POST /v1/auth/k8s-token')).toHaveLength(3);
  });

  it('writes each new SecretSync once: its Secret, one status write and one Event', () => {
    expect(count(proxy.writes, 'POST', /\/namespaces\/[^/]+\/secrets$/)).toBe(SYNCS);
    expect(count(proxy.writes, 'PUT', /\/secrets\/[^/]+$/)).toBe(0);
    expect(count(proxy.writes, 'PATCH', /\/secretsyncs\/[^/]+\/status$/)).toBe(SYNCS);
    expect(count(proxy.writes, 'POST', /\/events$/)).toBeLessThanOrEqual(SYNCS + 3);
    expect(count(proxy.writes, 'PATCH', /\/events\//)).toBe(0);
  });

  it('reconciles a new SecretSync once: its own write is no news, its Secret read from the cache', () => {
    const reads = apiCalls.filter((c) => /^GET \/v1\/vaults\/[^/]+\/secrets\/app\/s\d+$/.test(c));
    // s0 may be read twice: it registered with the vault's feed before the feed caught up.
    expect(reads.length).toBeLessThanOrEqual(SYNCS + 1);
    expect(proxy.requests.filter((r) => r.method === 'GET' && /\/secrets\/s\d+$/.test(r.path))).toEqual([]);
  });

  it('looks a Ready vault up by its recorded id, not by listing vaults', async () => {
    const since = apiCalls.length;
    const v = await suite.getVault('v');
    const access = v.spec.access ?? [];
    await suite.replace({
      ...v,
      spec: {
        ...v.spec,
        access: access.map((a, i) => (i === 0 ? { ...a, paths: [...a.paths, 'ops/**'] } : a)),
      },
    });
    await eventually('grant added', () =>
      apiCalls.slice(since).some((c) => /^POST \/v1\/vaults\/[^/]+\/policies$/.test(c)),
    );
    const calls = apiCalls.slice(since);
    expect(calls.filter((c) => /^GET \/v1\/vaults\/[^/?]+$/.test(c)).length).toBeGreaterThan(0);
    expect(calls.filter((c) => c.startsWith('GET /v1/vaults?'))).toEqual([]);
  });

  it("reads a SecretSync's secrets together, not one after another", async () => {
    const vaultId = (await suite.getVault('v')).status?.vaultId as string;
    const keys = ['a', 'b', 'c'];
    for (const key of keys) await suite.put(vaultId, `app/multi/${key}`, `multi-${key}`);
    await suite.createSync('multi', {
      vaultRef: { name: 'v' },
      serviceAccountName: 'app',
      data: keys.map((key) => ({ secretKey: key, path: `app/multi/${key}` })),
    });
    await eventually('multi synced', async () => (await suite.readSecret('multi'))?.c === 'multi-c');
    expect(await suite.readSecret('multi')).toEqual({ a: 'multi-a', b: 'multi-b', c: 'multi-c' });
    expect(maxInFlight).toBe(keys.length);
  });
});
