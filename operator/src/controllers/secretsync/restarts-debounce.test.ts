// Restarts are debounced per workload: a rotation that changes several SecretSyncs feeding one
// workload inside its window restarts it once, and every one of those syncs records the restart
// (an Event each) and stops owing it.
import { AppsV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningOperator } from '../../operator.js';
import { eventually } from '../../runtime/test-helpers.js';
import { type OperatorSuite, operatorSuite } from '../../test-helpers.js';
import { RESTARTED_AT } from './restarts.js';

describe('SecretSync: one restart for a rotation of several syncs', () => {
  let suite: OperatorSuite;
  let operator: RunningOperator;
  let vaultId: string;
  const syncs = ['db', 'cache'];

  const web = async () =>
    suite.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'web', namespace: suite.ns });
  const restartEvents = async (name: string) =>
    (
      await suite.kube.core.listNamespacedEvent({
        namespace: suite.ns,
        fieldSelector: `involvedObject.name=${name}`,
      })
    ).items
      .filter((e) => e.reason === 'RolloutRestarted')
      .map((e) => e.message);

  beforeAll(async () => {
    suite = await operatorSuite('sync-restart-many', ['app']);
    operator = await suite.startOperator({ restartDebounceMs: 2_000 });
    vaultId = await suite.createReadyVault('main', {
      access: [{ serviceAccount: 'app', paths: ['app/**'], permissions: ['read'] }],
    });
    await suite.createDeployment('web');
    for (const name of syncs) {
      await suite.put(vaultId, `app/${name}`, `${name}-1`);
      await suite.createSync(name, {
        vaultRef: { name: 'main' },
        serviceAccountName: 'app',
        data: [{ secretKey: 'value', path: `app/${name}` }],
        rolloutRestartTargets: [{ kind: 'Deployment', name: 'web' }],
      });
    }
    for (const name of syncs)
      await eventually(`${name} synced`, async () => (await suite.readSecret(name))?.value === `${name}-1`);
  });
  afterAll(async () => {
    await suite?.close();
  });

  it('restarts the workload once, and each sync tells of it and stops owing it', async () => {
    for (const name of syncs) await suite.put(vaultId, `app/${name}`, `${name}-2`);
    for (const name of syncs) {
      const pending = await eventually(`${name} owes a restart`, async () => {
        const s = await suite.getSync(name);
        return s.status?.syncedVersions?.[`app/${name}`] === 2 && (s.status.pendingRestart ?? false);
      });
      expect(pending.targets).toEqual([{ kind: 'Deployment', name: 'web' }]);
    }
    await eventually(
      'restarted',
      async () => (await web()).spec?.template.metadata?.annotations?.[RESTARTED_AT],
    );
    for (const name of syncs) {
      await eventually(
        `${name} no longer owes it`,
        async () => !(await suite.getSync(name)).status?.pendingRestart,
      );
      expect(
        await eventually(
          `${name} told`,
          async () => (await restartEvents(name)).length > 0 && restartEvents(name),
        ),
      ).toEqual(['restarted Deployment web']);
    }
    // Created at generation 1; one pod-template change for both syncs.
    expect((await web()).metadata?.generation).toBe(2);
    const counted = (
      await operator.registry.getSingleMetric('oneclaw_operator_rollout_restarts_total')?.get()
    )?.values
      .filter((v) => v.labels.namespace === suite.ns)
      .map((v) => [v.labels.reason, v.value]);
    expect(counted).toEqual([['secret_changed', 1]]);
  });
});
