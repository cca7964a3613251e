// A restart owed is never lost: the SecretSync's status records it in the same write as the new
// content's fingerprint, so when the operator that owed it is killed (kill -9) or loses its
// leadership inside the debounce window, the next leader finds it there and makes it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_ACCOUNT } from '../../../../test/support/operator.js';
import { freePort } from '../../../../test/support/ports.js';
import type { ManagedProcess } from '../../../../test/support/proc.js';
import { inheritedEnv, spawnOneclaw } from '../../../../test/support/server-process.js';
import type { SecretSync } from '../../apis/v1alpha1/types.js';
import type { RunningOperator } from '../../operator.js';
import { eventually } from '../../runtime/test-helpers.js';
import { operatorSuite } from '../../test-helpers.js';
import { RESTARTED_AT } from './restarts.js';

/** A suite with a Deployment `web` restarted by SecretSync `db`, and what the tests read of them. */
async function restartSuite(prefix: string) {
  const suite = await operatorSuite(prefix, ['app']);
  const apps = suite.kc.makeApiClient(AppsV1Api);
  const restartedAt = async () =>
    (await apps.readNamespacedDeployment({ name: 'web', namespace: suite.ns })).spec?.template.metadata
      ?.annotations?.[RESTARTED_AT];
  /** Needs an operator running (the vault is made by it); resolves once the first value is synced. */
  const setUp = async () => {
    const vaultId = await suite.createReadyVault('main', {
      access: [{ serviceAccount: 'app', paths: ['app/**'], permissions: ['read'] }],
    });
    await suite.put(vaultId, 'app/db/password', 'pw-1');
    await suite.createDeployment('web');
    await suite.createSync('db', {
      vaultRef: { name: 'main' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'password', path: 'app/db/password' }],
      rolloutRestartTargets: [{ kind: 'Deployment', name: 'web' }],
    });
    await eventually('first sync', async () => (await suite.readSecret('db'))?.password === 'pw-1');
    return vaultId;
  };
  /** Writes a new value and resolves as soon as the sync's status records the restart it owes. */
  const changeUntilOwed = async (vaultId: string) => {
    await suite.put(vaultId, 'app/db/password', 'pw-2');
    return eventually(
      'restart recorded',
      async () => (await suite.getSync('db')).status?.pendingRestart,
      15_000,
      5,
    );
  };
  const restartEvents = async () =>
    (
      await suite.kube.core.listNamespacedEvent({
        namespace: suite.ns,
        fieldSelector: 'involvedObject.name=db',
      })
    ).items
      .filter((e) => e.reason === 'RolloutRestarted')
      .map((e) => e.message);
  /** The restart was made after the change, and its record removed from status. */
  const expectServed = async (pending: NonNullable<NonNullable<SecretSync['status']>['pendingRestart']>) => {
    const at = await eventually('restarted', restartedAt, 45_000);
    expect(Date.parse(at)).toBeGreaterThan(Date.parse(pending.requestedAt));
    await eventually('record removed', async () => !(await suite.getSync('db')).status?.pendingRestart);
    expect(
      await eventually('event', async () => (await restartEvents()).length > 0 && restartEvents()),
    ).toEqual(['restarted Deployment web']);
    // Created at generation 1; exactly one pod-template change since.
    expect(
      (await apps.readNamespacedDeployment({ name: 'web', namespace: suite.ns })).metadata?.generation,
    ).toBe(2);
  };
  return { suite, restartedAt, setUp, changeUntilOwed, expectServed };
}

const restartsCounted = async (operator: RunningOperator, namespace: string) => {
  const metric = await operator.registry.getSingleMetric('oneclaw_operator_rollout_restarts_total')?.get();
  return metric?.values.find((v) => v.labels.namespace === namespace && v.labels.reason === 'secret_changed')
    ?.value;
};

describe('SecretSync: a restart owed when the operator is killed', () => {
  let t: Awaited<ReturnType<typeof restartSuite>>;
  let proc: ManagedProcess | undefined;
  let logDir: string;

  beforeAll(async () => {
    t = await restartSuite('sync-restart-kill');
    logDir = mkdtempSync(join(tmpdir(), 'oneclaw-restart-kill-'));
    // The operator as a pod runs it: its own process, leader election on, the default window (2 s).
    proc = spawnOneclaw('operator', 'operator', logDir, {
      ...inheritedEnv(),
      KUBECONFIG: t.suite.info.kubeconfig,
      ONECLAW_API_URL: t.suite.api.server.url as string,
      ONECLAW_OPERATOR_NAMESPACE: t.suite.ns,
      ONECLAW_OPERATOR_WATCH_NAMESPACE: t.suite.ns,
      ONECLAW_OPERATOR_SERVICE_ACCOUNT: OPERATOR_ACCOUNT,
      ONECLAW_OPERATOR_AUDIENCE: 'oneclaw',
      ONECLAW_OPERATOR_METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
      ONECLAW_LOG_LEVEL: 'warn',
    });
  }, 60_000);
  afterAll(async () => {
    await proc?.stop('SIGKILL');
    await t?.suite.close();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  it('is made by the next operator after a kill -9 inside the window', async () => {
    const vaultId = await t.setUp().catch((err: Error) => {
      throw new Error(`${err.message}\n${proc?.tail()}`);
    });
    const pending = await t.changeUntilOwed(vaultId);
    await proc?.stop('SIGKILL');
    expect(await t.restartedAt()).toBeUndefined();
    expect((await t.suite.getSync('db')).status?.pendingRestart).toEqual(pending);

    // Takes the Lease once the killed leader's expires (15 s), then finds the record.
    const next = await t.suite.startOperator();
    await t.expectServed(pending);
    expect(await restartsCounted(next, t.suite.ns)).toBe(1);
  }, 90_000);
});

describe('SecretSync: a restart owed across a leader change', () => {
  let t: Awaited<ReturnType<typeof restartSuite>>;
  const replicas: RunningOperator[] = [];

  beforeAll(async () => {
    t = await restartSuite('sync-restart-lead');
    // A window long enough that the leader surely stops inside it.
    for (const identity of ['replica-a', 'replica-b'])
      replicas.push(await t.suite.startOperator({ identity, restartDebounceMs: 3_000 }));
  });
  afterAll(async () => {
    await t?.suite.close();
  });

  it('is made by the new leader', async () => {
    const vaultId = await t.setUp();
    const pending = await t.changeUntilOwed(vaultId);
    const leader = replicas.find((r) => r.isLeader()) as RunningOperator;
    const follower = replicas.find((r) => r !== leader) as RunningOperator;
    await leader.stop();
    expect(Date.now()).toBeLessThan(Date.parse(pending.requestedAt) + 3_000);
    expect(await t.restartedAt()).toBeUndefined();

    await eventually('new leader', async () => follower.isLeader());
    await t.expectServed(pending);
    expect(await restartsCounted(follower, t.suite.ns)).toBe(1);
    expect(await restartsCounted(leader, t.suite.ns)).toBeUndefined();
  }, 60_000);
});
