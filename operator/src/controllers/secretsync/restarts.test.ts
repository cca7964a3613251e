// Rollout restarts follow the data the Secret holds, not the spec that produced it: a template
// edit that renders the same data restarts nothing, a new value restarts each workload once.
import { AppsV1Api, type CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeIdentities } from '../../../../test/support/kube-identity.js';
import {
  CONTENT_HASH_ANNOTATION,
  GROUP,
  PLURAL_SYNCS,
  type SecretSync,
  VERSION,
} from '../../apis/v1alpha1/types.js';
import type { RunningOperator } from '../../operator.js';
import { eventually } from '../../runtime/test-helpers.js';
import { type OperatorSuite, operatorSuite } from '../../test-helpers.js';
import { contentFingerprint } from './render.js';
import { RESTARTED_AT } from './restarts.js';

/** Longer than the test operator's restart window (500 ms), so a scheduled restart has happened. */
const SETTLE_MS = 1_500;

describe('SecretSync: rollout restarts', () => {
  let suite: OperatorSuite;
  let kube: KubeIdentities;
  let custom: CustomObjectsApi;
  let apps: AppsV1Api;
  let operator: RunningOperator;
  let ns: string;
  let vaultId: string;

  const crd = { group: GROUP, version: VERSION };
  const getSync = async () =>
    (await custom.getNamespacedCustomObject({
      ...crd,
      namespace: ns,
      plural: PLURAL_SYNCS,
      name: 'db',
    })) as SecretSync;
  const restartedAt = async () =>
    (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.template.metadata
      ?.annotations?.[RESTARTED_AT];
  const secretUrl = async () => {
    const s = await kube.core.readNamespacedSecret({ name: 'db', namespace: ns });
    return Buffer.from(s.data?.url ?? '', 'base64').toString();
  };
  const put = (value: string) => suite.put(vaultId, 'app/db/password', value);
  const events = async (reason: string) =>
    (await kube.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=db' })).items
      .filter((e) => e.reason === reason)
      .map((e) => e.message);
  const counted = async (reason: string) =>
    (await operator.registry.getSingleMetric('oneclaw_operator_rollout_restarts_total')?.get())?.values.find(
      (v) => v.labels.namespace === ns && v.labels.reason === reason,
    )?.value ?? 0;
  /** Replaces the sync's template; resolves once the operator has synced that generation. */
  const setTemplate = async (template: Record<string, string>) => {
    const current = await getSync();
    const replaced = await suite.replace({
      ...current,
      spec: { ...current.spec, target: { template: { data: template } } },
    });
    await eventually('the new generation synced', async () => {
      const s = await getSync();
      const synced = s.status?.conditions?.find((c) => c.type === 'Synced');
      return s.status?.observedGeneration === replaced.metadata.generation && synced?.status === 'True';
    });
  };

  beforeAll(async () => {
    suite = await operatorSuite('sync-restart', ['app']);
    ({ kube, custom, ns } = suite);
    apps = suite.kc.makeApiClient(AppsV1Api);
    operator = await suite.startOperator();
    vaultId = await suite.createReadyVault('main', {
      access: [{ serviceAccount: 'app', paths: ['app/**'], permissions: ['read'] }],
    });
    await put('pw-1');
    await suite.createDeployment('web');
    await suite.createSync('db', {
      vaultRef: { name: 'main' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'password', path: 'app/db/password' }],
      target: { template: { data: { url: 'postgres://app:{{ .password }}@db/app' } } },
      rolloutRestartTargets: [{ kind: 'Deployment', name: 'web' }],
    });
    expect(await eventually('first sync', () => secretUrl())).toBe('postgres://app:pw-1@db/app');
  });
  afterAll(async () => {
    await suite?.close();
  });

  it('restarts nothing when an edited template renders the same data', async () => {
    const hashBefore = (await getSync()).status?.secretHash;
    await setTemplate({ url: 'postgres://app:{{.password}}@db/app' });
    // The spec's fingerprint moved on; the Secret's data did not.
    expect((await getSync()).status?.secretHash).not.toBe(hashBefore);
    expect(await secretUrl()).toBe('postgres://app:pw-1@db/app');
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    expect(await restartedAt()).toBeUndefined();
  });

  it('restarts once when a value changes', async () => {
    await put('pw-2');
    await eventually('new value synced', async () => (await secretUrl()) === 'postgres://app:pw-2@db/app');
    const first = await eventually('restarted', restartedAt);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const web = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    expect(web.spec?.template.metadata?.annotations?.[RESTARTED_AT]).toBe(first);
    // Created at generation 1; one pod-template change since.
    expect(web.metadata?.generation).toBe(2);
    // Counted, told on the SecretSync, and no longer owed.
    expect(await counted('secret_changed')).toBe(1);
    expect(await events('RolloutRestarted')).toEqual(['restarted Deployment web']);
    expect((await getSync()).status?.pendingRestart).toBeUndefined();
  });

  it('still restarts when the Secret was written but the status write after it was lost', async () => {
    const before = await restartedAt();
    expect(before).toBeDefined();
    await operator.stop();
    await put('pw-3');
    // What a reconcile that died between its Secret write and its status write leaves behind:
    // the new data and fingerprint in the Secret, the old fingerprint in status.
    const sync = await getSync();
    const template = sync.spec.target?.template?.data;
    const fingerprint = contentFingerprint({
      entries: [{ key: 'password', path: 'app/db/password', version: 3 }],
      template,
      type: 'Opaque',
    });
    expect(sync.status?.secretHash).not.toBe(fingerprint);
    const secret = await kube.core.readNamespacedSecret({ name: 'db', namespace: ns });
    await kube.core.replaceNamespacedSecret({
      name: 'db',
      namespace: ns,
      body: {
        ...secret,
        metadata: {
          ...secret.metadata,
          annotations: { ...secret.metadata?.annotations, [CONTENT_HASH_ANNOTATION]: fingerprint },
        },
        data: { url: Buffer.from('postgres://app:pw-3@db/app').toString('base64') },
      },
    });

    operator = await suite.startOperator();
    await eventually('status caught up', async () => (await getSync()).status?.secretHash === fingerprint);
    const after = await eventually('restarted again', async () => {
      const at = await restartedAt();
      return at !== before ? at : undefined;
    });
    expect(after).toBeDefined();
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).metadata?.generation).toBe(
      3,
    );
  });

  it('counts a restart of a missing workload as failed, says so, and stops owing it', async () => {
    // Retried on a conflict: the operator's status writes move the resourceVersion on.
    await eventually('targets replaced', async () => {
      const sync = await getSync();
      return suite.replace({
        ...sync,
        spec: {
          ...sync.spec,
          rolloutRestartTargets: [
            { kind: 'Deployment', name: 'web' },
            { kind: 'StatefulSet', name: 'gone' },
          ],
        },
      });
    });
    const before = await restartedAt();
    await put('pw-4');
    await eventually('failure told', async () => (await events('RolloutRestartFailed')).length > 0);
    expect(await events('RolloutRestartFailed')).toEqual(['could not restart StatefulSet gone (not found)']);
    expect(await restartedAt()).not.toBe(before);
    expect(await counted('failed')).toBe(1);
    await eventually('no longer owed', async () => !(await getSync()).status?.pendingRestart);
  });
});
