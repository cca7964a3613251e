import { CoreV1Api, type CoreV1Event, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigFor, sharedPeer, uniqueName } from '../../../test/support/fixtures.js';
import { createEventRecorder, type EventRecorder } from './events.js';
import { captureLogger } from './test-helpers.js';

describe('event recorder', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let recorder: EventRecorder;
  const ns = uniqueName('rt-events');
  const { logger, lines } = captureLogger();

  beforeAll(async () => {
    const info = await sharedPeer('kube');
    kc = kubeConfigFor(info.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    recorder = createEventRecorder({
      kubeConfig: kc,
      component: 'oneclaw-operator',
      logger,
      instance: 'replica-1',
    });
  });

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });

  const object = (name: string): Promise<V1ConfigMap> =>
    core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name } } });

  const eventsOf = async (name: string): Promise<CoreV1Event[]> =>
    (await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` })).items;

  it('records an Event on the object with involvedObject and the reporting component', async () => {
    const cm = await object(uniqueName('cm'));
    await recorder.event(cm, 'Normal', 'Synced', 'synced 2 keys from vault prod');
    const [ev, ...rest] = await eventsOf(cm.metadata?.name ?? '');
    expect(rest).toHaveLength(0);
    expect(ev).toMatchObject({
      type: 'Normal',
      reason: 'Synced',
      message: 'synced 2 keys from vault prod',
      count: 1,
      reportingComponent: 'oneclaw-operator',
      reportingInstance: 'replica-1',
      source: { component: 'oneclaw-operator' },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: cm.metadata?.name,
        namespace: ns,
        uid: cm.metadata?.uid,
        resourceVersion: cm.metadata?.resourceVersion,
      },
    });
    expect(ev?.metadata?.namespace).toBe(ns);
  });

  it('aggregates repeats into one Event with a count, also when they race', async () => {
    const cm = await object(uniqueName('cm'));
    await recorder.event(cm, 'Warning', 'SyncFailed', 'vault prod not found');
    await recorder.event(cm, 'Warning', 'SyncFailed', 'vault prod not found');
    await Promise.all([
      recorder.event(cm, 'Warning', 'SyncFailed', 'vault prod not found'),
      recorder.event(cm, 'Warning', 'SyncFailed', 'vault prod not found'),
      recorder.event(cm, 'Normal', 'Synced', 'synced'),
    ]);
    const events = await eventsOf(cm.metadata?.name ?? '');
    expect(events).toHaveLength(2);
    const failed = events.find((e) => e.reason === 'SyncFailed');
    expect(failed?.count).toBe(4);
    expect(failed?.lastTimestamp?.getTime()).toBeGreaterThanOrEqual(
      failed?.firstTimestamp?.getTime() ?? Infinity,
    );
    expect(events.find((e) => e.reason === 'Synced')?.count).toBe(1);
  });

  it('starts a new Event when the aggregated one is gone', async () => {
    const cm = await object(uniqueName('cm'));
    await recorder.event(cm, 'Normal', 'Synced', 'synced');
    const [first] = await eventsOf(cm.metadata?.name ?? '');
    await core.deleteNamespacedEvent({ name: first?.metadata?.name ?? '', namespace: ns });
    await recorder.event(cm, 'Normal', 'Synced', 'synced');
    const events = await eventsOf(cm.metadata?.name ?? '');
    expect(events).toHaveLength(1);
    expect(events[0]?.metadata?.name).not.toBe(first?.metadata?.name);
    expect(events[0]?.count).toBe(1);
  });

  it('never throws: a failure is logged', async () => {
    const ghost = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ghost', namespace: uniqueName('no-such-ns') },
    };
    await expect(recorder.event(ghost, 'Warning', 'SyncFailed', 'x')).resolves.toBeUndefined();
    const line = lines.find((l) => l.msg === 'could not record event');
    expect(line).toMatchObject({ level: 40, reason: 'SyncFailed', kind: 'ConfigMap' });
  });

  it('drops routine Events over the rate limit (counted), never others', async () => {
    const dropped: string[] = [];
    const limited = createEventRecorder({
      kubeConfig: kc,
      component: 'oneclaw-operator',
      logger,
      droppable: new Set(['Synced']),
      droppablePerSecond: 1,
      onDropped: (reason) => dropped.push(reason),
    });
    const cm = await object(uniqueName('cm-limited'));
    // A burst of five seconds' worth passes; the rest of a burst of 12 is dropped.
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => limited.event(cm, 'Normal', 'Synced', `burst ${i}`)),
    );
    await Promise.all(
      Array.from({ length: 3 }, (_, i) => limited.event(cm, 'Warning', 'Failed', `failure ${i}`)),
    );
    await Promise.all(
      Array.from({ length: 3 }, (_, i) => limited.event(cm, 'Normal', 'Restarted', `restart ${i}`)),
    );
    const events = await eventsOf(cm.metadata?.name ?? '');
    expect(events.filter((e) => e.reason === 'Synced').length).toBe(5);
    expect(events.filter((e) => e.reason === 'Restarted').length).toBe(3);
    expect(events.filter((e) => e.type === 'Warning').length).toBe(3);
    expect(dropped).toEqual(Array(7).fill('Synced'));
  });
});
