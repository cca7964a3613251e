// Fault test on a private control plane: kube-apiserver stops and starts again under a running
// controller and a leading elector. The watch must come back by itself (relisting after 410 Gone
// when its resourceVersion predates the restarted apiserver's watch cache) so that a change made
// after the restart is reconciled; the leader must give up when it cannot renew and lead again.
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigFor, uniqueName } from '../../../test/support/fixtures.js';
import { type KubePeer, startKube } from '../../../test/support/peers/kube.js';
import { type Controller, createController } from './controller.js';
import type { ResourceKind } from './informer-cache.js';
import { createLeaderElector, type LeaderElector } from './leader.js';
import { captureLogger, eventually } from './test-helpers.js';

const LABEL = 'oneclaw.dev/runtime-restart-test';
const CONFIG_MAPS: ResourceKind<V1ConfigMap> = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  labelSelector: `${LABEL}=yes`,
};

describe('apiserver restart', () => {
  let peer: KubePeer;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let controller: Controller | undefined;
  let elector: LeaderElector | undefined;
  const ns = uniqueName('rt-restart');

  beforeAll(async () => {
    peer = await startKube();
    kc = kubeConfigFor(peer.info.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  afterAll(async () => {
    await controller?.stop();
    await elector?.stop();
    await peer?.stop();
  });

  it('reconciles a change made after the apiserver came back, and the leader steps down and back up', async () => {
    const { logger, lines } = captureLogger('info');
    const seen: string[] = [];
    controller = createController({
      name: 'restart',
      kubeConfig: kc,
      logger,
      watches: { for: CONFIG_MAPS },
      watchRetryBaseMs: 100,
      watchRetryMaxMs: 500,
      reconciler: {
        async reconcile(key) {
          const cm = controller?.cache(CONFIG_MAPS).get(key.namespace, key.name);
          seen.push(`${key.name}=${cm ? cm.data?.v : 'absent'}`);
          return undefined;
        },
      },
    });
    await controller.start();
    const leadership: string[] = [];
    elector = createLeaderElector({
      kubeConfig: kc,
      namespace: ns,
      name: 'restart-lease',
      identity: 'only',
      logger: pino({ level: 'silent' }),
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 300,
      onStartedLeading: () => {
        leadership.push('started');
      },
      onStoppedLeading: () => {
        leadership.push('stopped');
      },
    });
    elector.start();

    const labels = { [LABEL]: 'yes' };
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'a', labels }, data: { v: '1' } },
    });
    await eventually('a=1 reconciled', () => seen.includes('a=1'));
    await eventually('leading', () => elector?.isLeader());
    // A write the watch does not see moves etcd past the informer's resourceVersion, so the
    // restarted apiserver's watch cache starts after it: the informer must relist.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'unrelated' } } });

    await peer.stopApiserver();
    await eventually('leader stepped down', () => leadership.includes('stopped'), 10_000);
    expect(elector.isLeader()).toBe(false);
    await peer.startApiserver();

    const a = await core.readNamespacedConfigMap({ name: 'a', namespace: ns });
    await core.replaceNamespacedConfigMap({ name: 'a', namespace: ns, body: { ...a, data: { v: '2' } } });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'b', labels }, data: { v: '1' } },
    });
    await eventually('a=2 and b=1 reconciled', () => seen.includes('a=2') && seen.includes('b=1'), 20_000);
    await core.deleteNamespacedConfigMap({ name: 'b', namespace: ns });
    await eventually('b deletion reconciled', () => seen.includes('b=absent'));
    await eventually('leading again', () => elector?.isLeader(), 10_000);
    expect(leadership).toEqual(['started', 'stopped', 'started']);

    expect(lines.some((l) => l.msg === 'list/watch failed; retrying')).toBe(true);
    expect(lines.some((l) => String(l.msg).includes('410 Gone'))).toBe(true);
  });
});
