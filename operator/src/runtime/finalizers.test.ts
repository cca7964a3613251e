import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigFor, sharedPeer, uniqueName } from '../../../test/support/fixtures.js';
import { addFinalizer, FinalizerConflictError, hasFinalizer, removeFinalizer } from './finalizers.js';
import { namespacedPath } from './kube-request.js';

const OURS = 'oneclaw.dev/test-finalizer';
const THEIRS = 'example.com/other';

describe('finalizers', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  const ns = uniqueName('rt-fin');

  beforeAll(async () => {
    const info = await sharedPeer('kube');
    kc = kubeConfigFor(info.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });

  const pathOf = (name: string) => namespacedPath('v1', 'configmaps', ns, name);
  const read = (name: string) => core.readNamespacedConfigMap({ name, namespace: ns });
  const create = (name: string, finalizers?: string[]) =>
    core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, finalizers } } });

  it('adds once and removes, keeping finalizers of others', async () => {
    const name = uniqueName('cm');
    const cm = await create(name);
    expect(hasFinalizer(cm, OURS)).toBe(false);
    const added = await addFinalizer(kc, pathOf(name), cm, OURS);
    expect(added.metadata?.finalizers).toEqual([OURS]);
    expect(await addFinalizer(kc, pathOf(name), added, OURS)).toBe(added); // no request: already there
    await core.replaceNamespacedConfigMap({
      name,
      namespace: ns,
      body: {
        ...(await read(name)),
        metadata: { ...(await read(name)).metadata, finalizers: [OURS, THEIRS] },
      },
    });
    const removed = await removeFinalizer(kc, pathOf(name), await read(name), OURS);
    expect(removed.metadata?.finalizers).toEqual([THEIRS]);
    expect((await read(name)).metadata?.finalizers).toEqual([THEIRS]);
  });

  it('refuses to write over a concurrent change of the finalizers', async () => {
    const name = uniqueName('cm');
    const stale = await create(name, [THEIRS]);
    // someone else adds a finalizer after we read
    await core.replaceNamespacedConfigMap({
      name,
      namespace: ns,
      body: { ...stale, metadata: { ...stale.metadata, finalizers: [THEIRS, 'example.com/third'] } },
    });
    await expect(addFinalizer(kc, pathOf(name), stale, OURS)).rejects.toBeInstanceOf(FinalizerConflictError);
    const fresh = await addFinalizer(kc, pathOf(name), await read(name), OURS);
    expect(fresh.metadata?.finalizers).toEqual([THEIRS, 'example.com/third', OURS]);
    // a stale removal would drop the third party's change: refused too
    await core.replaceNamespacedConfigMap({
      name,
      namespace: ns,
      body: { ...fresh, metadata: { ...fresh.metadata, finalizers: [OURS] } },
    });
    await expect(removeFinalizer(kc, pathOf(name), fresh, OURS)).rejects.toBeInstanceOf(
      FinalizerConflictError,
    );
  });

  it('guards the first finalizer with the resourceVersion, and edits elsewhere do not matter later', async () => {
    const name = uniqueName('cm');
    const stale = await create(name);
    await core.replaceNamespacedConfigMap({
      name,
      namespace: ns,
      body: { ...stale, data: { edited: 'yes' } },
    });
    await expect(addFinalizer(kc, pathOf(name), stale, OURS)).rejects.toBeInstanceOf(FinalizerConflictError);
    const withOurs = await addFinalizer(kc, pathOf(name), await read(name), OURS);
    // With a finalizer list to test against, unrelated edits no longer conflict.
    await core.replaceNamespacedConfigMap({
      name,
      namespace: ns,
      body: { ...withOurs, data: { edited: 'again' } },
    });
    const removed = await removeFinalizer(kc, pathOf(name), withOurs, OURS);
    expect(removed.metadata?.finalizers ?? []).toEqual([]);
  });

  it('lets a deleting object go once the last finalizer is removed', async () => {
    const name = uniqueName('cm');
    await addFinalizer(kc, pathOf(name), await create(name), OURS);
    await core.deleteNamespacedConfigMap({ name, namespace: ns });
    const deleting: V1ConfigMap = await read(name);
    expect(deleting.metadata?.deletionTimestamp).toBeDefined();
    await removeFinalizer(kc, pathOf(name), deleting, OURS);
    await expect(read(name)).rejects.toMatchObject({ code: 404 });
    // removing from an object already gone is done, not an error
    await expect(removeFinalizer(kc, pathOf(name), deleting, OURS)).resolves.toBe(deleting);
  });
});
