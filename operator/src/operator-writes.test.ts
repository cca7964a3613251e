// What the operator writes to the cluster, counted at a proxy in front of the apiserver: a
// converged OneclawVault and SecretSync cost no write on a resync or after a restart, and a
// leader that loses its Lease while a reconcile is blocked writes nothing more once the lease
// duration has passed.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestOperator } from '../../test/support/operator.js';
import type { RunningOperator } from './operator.js';
import { kubeRequest, namespacedPath } from './runtime/kube-request.js';
import { microTime } from './runtime/leader.js';
import { deferred, eventually } from './runtime/test-helpers.js';
import {
  type CountingKubeProxy,
  countingKubeProxy,
  type KubeWrite,
  type OperatorSuite,
  operatorSuite,
} from './test-helpers.js';

/** Writes to what the operator manages: not the Lease it renews, not the tokens it mints. */
const objectWrites = (writes: KubeWrite[], since = 0) =>
  writes.filter((w) => w.at >= since && !/\/leases(\/|$)/.test(w.path) && !w.path.endsWith('/token'));

const reconciled = async (operator: RunningOperator, controller: string) => {
  const text = await operator.registry.metrics();
  const line = new RegExp(
    `oneclaw_operator_reconcile_total\\{[^}]*controller="${controller}"[^}]*result="success"[^}]*\\} ([0-9]+)`,
  ).exec(text);
  return Number(line?.[1] ?? 0);
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('operator writes', () => {
  let suite: OperatorSuite;
  let proxy: CountingKubeProxy;
  const operators: RunningOperator[] = [];

  beforeAll(async () => {
    suite = await operatorSuite('opw', ['app']);
    proxy = await countingKubeProxy(suite.kc);
  });
  afterEach(async () => {
    for (const o of operators.splice(0)) await o.stop();
  });
  afterAll(async () => {
    await proxy?.close();
    await suite?.close();
  });

  it('makes none for a converged OneclawVault and SecretSync, on a resync or after a restart', async () => {
    const start = () =>
      startTestOperator({ api: suite.api, kube: suite.kube, kubeConfig: proxy.kubeConfig, resyncMs: 500 });
    operators.push(await start());
    const vaultId = await suite.createReadyVault('v', {
      access: [{ serviceAccount: 'app', paths: ['app/**'], permissions: ['read', 'list'] }],
    });
    await suite.put(vaultId, 'app/db/password', 'one');
    await suite.put(vaultId, 'app/env/LEVEL', 'debug');
    await suite.createSync('s', {
      vaultRef: { name: 'v' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'password', path: 'app/db/password' }],
      dataFrom: [{ path: 'app/env/*' }],
      target: { labels: { tier: 'web', app: 'shop' }, annotations: { team: 'b', owner: 'a' } },
    });
    // A second sync of the same account: a restart still mints one token for the account.
    await suite.createSync('s2', {
      vaultRef: { name: 'v' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'password', path: 'app/db/password' }],
    });
    await eventually('synced', async () => (await suite.readSecret('s'))?.LEVEL === 'debug');
    await eventually('s2 synced', async () => (await suite.readSecret('s2'))?.password === 'one');
    await eventually('Synced', async () =>
      (await suite.getSync('s')).status?.conditions?.some((c) => c.type === 'Synced' && c.status === 'True'),
    );
    // Converged: a few resync rounds with nothing to do.
    await eventually(
      'writes settle',
      async () => {
        const before = objectWrites(proxy.writes).length;
        await sleep(1_000);
        return objectWrites(proxy.writes).length === before;
      },
      20_000,
    );
    const vaultReconciles = await reconciled(operators[0] as RunningOperator, 'oneclawvault');
    const syncReconciles = await reconciled(operators[0] as RunningOperator, 'secretsync');
    const since = Date.now();
    await sleep(2_500);
    expect(await reconciled(operators[0] as RunningOperator, 'oneclawvault')).toBeGreaterThan(
      vaultReconciles,
    );
    expect(await reconciled(operators[0] as RunningOperator, 'secretsync')).toBeGreaterThan(syncReconciles);
    expect(objectWrites(proxy.writes, since)).toEqual([]);

    const restartedAt = Date.now();
    await (operators.pop() as RunningOperator).stop();
    const next = await start();
    operators.push(next);
    await eventually('reconciled after the restart', async () => {
      return (await reconciled(next, 'oneclawvault')) > 0 && (await reconciled(next, 'secretsync')) > 0;
    });
    await sleep(1_500);
    expect(objectWrites(proxy.writes, restartedAt)).toEqual([]);
    const tokens = proxy.writes.filter(
      (w) => w.at >= restartedAt && w.path.endsWith('/serviceaccounts/app/token'),
    );
    expect(tokens).toHaveLength(1);
  });

  it('stops writing within the lease duration when the leader loses its Lease mid-reconcile', async () => {
    type Latch = ReturnType<typeof deferred<void>>;
    let gate: { entered: Latch; release: Latch } | undefined;
    // Reads of app/key wait while the gate is set and then answer even if the caller gave up: a
    // call that does not notice cancellation.
    const blocking: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const held = gate;
      if (held && url.includes('/secrets/app/key')) {
        held.entered.resolve();
        await held.release.promise;
        return fetch(input, { ...init, signal: null });
      }
      return fetch(input, init);
    };
    const leaseMs = 4_000; // startTestOperator's lease duration
    const operator = await startTestOperator({
      api: suite.api,
      kube: suite.kube,
      kubeConfig: proxy.kubeConfig,
      fetch: blocking,
    });
    operators.push(operator);
    await eventually('leading', () => operator.isLeader());
    const vaultId = await suite.createReadyVault('w', {
      access: [{ serviceAccount: 'app', paths: ['app/key'], permissions: ['read'] }],
    });
    await suite.put(vaultId, 'app/key', 'one');
    await suite.createSync('blocked', {
      vaultRef: { name: 'w' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'value', path: 'app/key' }],
    });
    await eventually('first value', async () => (await suite.readSecret('blocked'))?.value === 'one');

    gate = { entered: deferred(), release: deferred() };
    await suite.put(vaultId, 'app/key', 'two');
    await gate.entered.promise;

    // Another replica takes the Lease (as after a partition): this one cannot renew.
    const path = namespacedPath('coordination.k8s.io/v1', 'leases', suite.ns, 'oneclaw-operator');
    // The operator renews every 300 ms: retried when a renewal came in between (409).
    const lostAt = await eventually('Lease taken', async () => {
      const lease = await kubeRequest<{ spec: Record<string, unknown> }>(suite.kc, { path });
      const at = Date.now();
      await kubeRequest(suite.kc, {
        method: 'PUT',
        path,
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: 'another-replica',
            leaseDurationSeconds: 600,
            renewTime: microTime(new Date(at)),
          },
        },
      });
      return at;
    });
    await eventually('stopped leading', () => !operator.isLeader(), leaseMs, 50);
    expect(Date.now() - lostAt).toBeLessThan(leaseMs);

    // The blocked read answers after the other replica may have started: nothing is written.
    await sleep(lostAt + leaseMs - Date.now());
    const deadline = Date.now();
    gate.release.resolve();
    await sleep(1_500);
    expect(objectWrites(proxy.writes, deadline)).toEqual([]);
    expect((await suite.readSecret('blocked'))?.value).toBe('one');
  });
});
