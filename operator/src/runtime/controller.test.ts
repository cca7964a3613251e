// The reconcile loop against the shared control plane. ConfigMaps labelled with a label unique
// to each controller stand in for the primary kind, so no CRD is needed and suites sharing the
// apiserver never see each other's objects.
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigFor, sharedPeer, uniqueName } from '../../../test/support/fixtures.js';
import { countingKubeProxy } from '../test-helpers.js';
import {
  type Controller,
  createController,
  currentReconcileSignal,
  type ReconcileContext,
  type ReconcileResult,
  TerminalError,
} from './controller.js';
import { createInformerCache, type ResourceKind } from './informer-cache.js';
import { generationChanged, keyOf, type ObjectKey, parseKey } from './keys.js';
import { deferred, eventually } from './test-helpers.js';

const LABEL = 'oneclaw.dev/runtime-test';

/** The ConfigMaps labelled `LABEL=value`: a kind of the test's own. */
const configMaps = (value: string): ResourceKind<V1ConfigMap> => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  labelSelector: `${LABEL}=${value}`,
});

interface Call {
  key: ObjectKey;
  at: number;
  /** data.v of the object in the cache when the reconcile ran, or 'absent'. */
  seen: string;
  ctx: ReconcileContext;
}

describe('keys', () => {
  it('round-trips namespace/name', () => {
    expect(keyOf({ namespace: 'ns', name: 'a' })).toBe('ns/a');
    expect(parseKey('ns/a')).toEqual({ namespace: 'ns', name: 'a' });
    expect(parseKey('cluster-scoped')).toEqual({ namespace: '', name: 'cluster-scoped' });
  });

  it('generationChanged ignores status-only writes', () => {
    const base = { metadata: { name: 'a', generation: 1, labels: { x: '1' } } };
    expect(generationChanged(base, { metadata: { ...base.metadata } })).toBe(false);
    expect(generationChanged(base, { metadata: { ...base.metadata, generation: 2 } })).toBe(true);
    expect(generationChanged(base, { metadata: { ...base.metadata, labels: { x: '2' } } })).toBe(true);
    expect(generationChanged({ metadata: { name: 'a' } }, { metadata: { name: 'a' } })).toBe(true);
  });
});

describe('controller against a real apiserver', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  const ns = uniqueName('rt-ctl');
  const running: Controller[] = [];

  beforeAll(async () => {
    const info = await sharedPeer('kube');
    kc = kubeConfigFor(info.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()));
  });

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });

  /** Starts a controller over ConfigMaps carrying a fresh label value; `behave` decides each outcome. */
  async function startController(
    behave: (key: ObjectKey, n: number) => Promise<ReconcileResult | undefined> = async () => undefined,
    extra: Partial<Parameters<typeof createController>[0]> = {},
  ) {
    const value = uniqueName('c');
    const calls: Call[] = [];
    const counts = new Map<string, number>();
    let controller: Controller | undefined;
    controller = createController({
      name: value,
      kubeConfig: kc,
      logger: pino({ level: 'silent' }),
      watches: { for: configMaps(value) },
      queue: { baseDelayMs: 50, maxDelayMs: 2_000 },
      reconciler: {
        async reconcile(key, ctx) {
          // Reconcile from the key: read the current state, ignore what the event carried.
          const obj = controller?.cache(configMaps(value)).get(key.namespace, key.name);
          calls.push({
            key,
            at: Date.now(),
            seen: obj ? (obj.data?.v ?? '') : 'absent',
            ctx,
          });
          const n = (counts.get(keyOf(key)) ?? 0) + 1;
          counts.set(keyOf(key), n);
          return behave(key, n);
        },
      },
      ...extra,
    });
    running.push(controller);
    await controller.start();
    const callsFor = (name: string) => calls.filter((c) => c.key.name === name && c.key.namespace === ns);
    return { controller, calls, callsFor, labels: { [LABEL]: value }, kind: configMaps(value) };
  }

  const createCm = (name: string, labels: Record<string, string> | undefined, v = '1') =>
    core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels }, data: { v } } });

  const setValue = async (name: string, v: string) => {
    const cm = await core.readNamespacedConfigMap({ name, namespace: ns });
    await core.replaceNamespacedConfigMap({ name, namespace: ns, body: { ...cm, data: { v } } });
  };

  it('reconciles by key on create, update and delete, reading the current object', async () => {
    const { callsFor, labels, controller } = await startController();
    expect(controller.hasSynced()).toBe(true);
    const name = uniqueName('cm');
    await createCm(name, labels, '1');
    await eventually('reconcile after create', () => callsFor(name).find((c) => c.seen === '1'));
    await setValue(name, '2');
    await eventually('reconcile after update', () => callsFor(name).find((c) => c.seen === '2'));
    await core.deleteNamespacedConfigMap({ name, namespace: ns });
    await eventually('reconcile after delete', () => callsFor(name).find((c) => c.seen === 'absent'));
    const first = callsFor(name)[0];
    expect(first?.key).toEqual({ namespace: ns, name });
    // each reconcile has its own id and a logger bound to controller, key and id
    const ids = new Set(callsFor(name).map((c) => c.ctx.reconcileId));
    expect(ids.size).toBe(callsFor(name).length);
    expect(first?.ctx.log.bindings()).toMatchObject({
      key: `${ns}/${name}`,
      reconcileId: first?.ctx.reconcileId,
    });
    expect(first?.ctx.log.bindings().controller).toBeTypeOf('string');
  });

  it('keeps only labelled objects in the cache and never reconciles the others', async () => {
    const { callsFor, labels, controller, calls, kind } = await startController();
    const plain = uniqueName('plain');
    const mine = uniqueName('mine');
    await createCm(plain, { [LABEL]: 'someone-else' });
    await createCm(mine, labels);
    await eventually('labelled one reconciled', () => callsFor(mine).length > 0);
    await sleep(200);
    const cache = controller.cache(kind);
    expect(cache.get(ns, plain)).toBeUndefined();
    expect(cache.list().map((o) => o.metadata?.name)).toEqual([mine]);
    expect(cache.list(ns).map((o) => o.metadata?.name)).toEqual([mine]);
    expect(cache.list('other-namespace')).toEqual([]);
    expect(callsFor(plain)).toHaveLength(0);
    // cached list items look like watch objects: apiVersion and kind filled in
    expect(cache.get(ns, mine)).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
    // labelling it brings it in; unlabelling it takes it out (the watch reports a delete)
    const cm = await core.readNamespacedConfigMap({ name: plain, namespace: ns });
    await core.replaceNamespacedConfigMap({
      name: plain,
      namespace: ns,
      body: { ...cm, metadata: { ...cm.metadata, labels } },
    });
    await eventually('relabelled one enters the cache', () => cache.get(ns, plain));
    // managedFields (which the apiserver keeps on every object) are left out of the cache, from
    // the list and from the watch alike
    expect(
      (await core.readNamespacedConfigMap({ name: plain, namespace: ns })).metadata?.managedFields,
    ).toBeDefined();
    expect(cache.get(ns, mine)?.metadata?.managedFields).toBeUndefined();
    expect(cache.get(ns, plain)?.metadata?.managedFields).toBeUndefined();
    const again = await core.readNamespacedConfigMap({ name: plain, namespace: ns });
    await core.replaceNamespacedConfigMap({
      name: plain,
      namespace: ns,
      body: { ...again, metadata: { ...again.metadata, labels: {} } },
    });
    await eventually('unlabelled one leaves the cache', () => cache.get(ns, plain) === undefined);
    expect(calls.every((c) => c.key.namespace === ns)).toBe(true);
  });

  it('maps child events to the owner key, and filters updates with shouldEnqueueUpdate', async () => {
    const primary = uniqueName('p');
    const child = uniqueName('ch');
    const seen: string[] = [];
    const controller = createController({
      name: primary,
      kubeConfig: kc,
      logger: pino({ level: 'silent' }),
      watches: {
        for: {
          ...configMaps(primary),
          // only data changes of the primary count; label or annotation edits do not
          shouldEnqueueUpdate: (o, n) =>
            JSON.stringify((o as V1ConfigMap).data) !== JSON.stringify((n as V1ConfigMap).data),
        },
        owns: [configMaps(child)],
      },
      reconciler: {
        async reconcile(key) {
          const children = controller.cache(configMaps(child)).list(key.namespace);
          seen.push(`${key.name}:${children.map((c) => c.data?.v).join(',')}`);
          return undefined;
        },
      },
    });
    running.push(controller);
    await controller.start();
    const owner = await createCm('owner', { [LABEL]: primary });
    await eventually('owner reconciled', () => seen.includes('owner:'));
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'owned',
          labels: { [LABEL]: child },
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' },
          ],
        },
        data: { v: 'c1' },
      },
    });
    await eventually('child create reconciles the owner', () => seen.includes('owner:c1'));
    await setValue('owned', 'c2');
    await eventually('child update reconciles the owner', () => seen.includes('owner:c2'));
    const before = seen.length;
    const cur = await core.readNamespacedConfigMap({ name: 'owner', namespace: ns });
    await core.replaceNamespacedConfigMap({
      name: 'owner',
      namespace: ns,
      body: { ...cur, metadata: { ...cur.metadata, annotations: { note: 'not a spec change' } } },
    });
    await sleep(300);
    expect(seen.length).toBe(before);
    expect(seen.every((s) => s.startsWith('owner:'))).toBe(true);
  });

  it('retries a failing key with growing backoff until it succeeds', async () => {
    const registry = new Registry();
    const { callsFor, labels } = await startController(
      async (_key, n) => {
        if (n <= 3) throw new Error(`transient failure ${n}`);
        return undefined;
      },
      { metrics: registry },
    );
    const name = uniqueName('flaky');
    await createCm(name, labels);
    await eventually('fourth attempt', () => callsFor(name).length >= 4);
    await sleep(400);
    const at = callsFor(name).map((c) => c.at);
    expect(at).toHaveLength(4); // success stops the retries
    const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
    // base 50 ms doubling, jittered ±10%: ≈50, 100, 200
    expect(gaps[0]).toBeGreaterThanOrEqual(40);
    expect(gaps[1]).toBeGreaterThanOrEqual(85);
    expect(gaps[2]).toBeGreaterThanOrEqual(170);
    const text = await registry.metrics();
    expect(text).toMatch(/oneclaw_operator_reconcile_total\{controller="[^"]+",result="error"\} 3/);
    expect(text).toMatch(/oneclaw_operator_reconcile_total\{controller="[^"]+",result="success"\} 1/);
    expect(text).toMatch(/oneclaw_operator_reconcile_duration_seconds_count\{controller="[^"]+"\} 4/);
    expect(text).toMatch(/oneclaw_operator_workqueue_depth\{controller="[^"]+"\} 0/);
  });

  it('does not retry a TerminalError until the object changes', async () => {
    const { callsFor, labels } = await startController(async (key) => {
      const cm = await core.readNamespacedConfigMap({ name: key.name, namespace: key.namespace });
      if (cm.data?.v === 'invalid') throw new TerminalError('spec.v is invalid');
      return undefined;
    });
    const name = uniqueName('bad');
    await createCm(name, labels, 'invalid');
    await eventually('first reconcile', () => callsFor(name).length === 1);
    await sleep(600);
    expect(callsFor(name)).toHaveLength(1);
    await setValue(name, 'fixed');
    await eventually('reconciled after the fix', () => callsFor(name).find((c) => c.seen === 'fixed'));
  });

  it('requeues after requeueAfterMs', async () => {
    const { callsFor, labels } = await startController(async (_key, n) =>
      n < 3 ? { requeueAfterMs: 150 } : undefined,
    );
    const name = uniqueName('requeue');
    await createCm(name, labels);
    await eventually('three reconciles', () => callsFor(name).length >= 3);
    await sleep(300);
    const at = callsFor(name).map((c) => c.at);
    expect(at).toHaveLength(3);
    expect((at[1] as number) - (at[0] as number)).toBeGreaterThanOrEqual(140);
    expect((at[2] as number) - (at[1] as number)).toBeGreaterThanOrEqual(140);
  });

  it('enqueues external keys, and resyncs periodically', async () => {
    const { calls, controller } = await startController(undefined, { resyncMs: 200 });
    controller.enqueue({ namespace: ns, name: 'from-a-change-feed' });
    controller.enqueue({ namespace: ns, name: 'later' }, 150);
    await eventually('external key', () => calls.find((c) => c.key.name === 'from-a-change-feed'));
    await eventually('delayed external key', () => calls.find((c) => c.key.name === 'later'));
    const { callsFor, labels } = await startController(undefined, { resyncMs: 200 });
    const name = uniqueName('resync');
    await createCm(name, labels);
    await eventually('reconciled again by resync, with no change', () => callsFor(name).length >= 3, 5_000);
  });

  it('stop() waits for the in-flight reconcile and then takes no more keys', async () => {
    const gate = deferred();
    const entered = deferred();
    let finished = false;
    const { callsFor, labels, controller } = await startController(async () => {
      entered.resolve();
      await gate.promise;
      finished = true;
      return undefined;
    });
    const name = uniqueName('slow');
    await createCm(name, labels);
    await entered.promise;
    let stopped = false;
    const stopping = controller.stop().then(() => {
      stopped = true;
    });
    await sleep(200);
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(finished).toBe(true);
    await setValue(name, '2');
    await sleep(300);
    expect(callsFor(name)).toHaveLength(1);
  });

  it('stop() fires the signal of in-flight reconciles, and waits no longer than stopTimeoutMs', async () => {
    const entered = deferred();
    let sawAbort = false;
    let scoped: AbortSignal | undefined;
    const { calls, labels, controller } = await startController(
      async () => {
        scoped = currentReconcileSignal();
        entered.resolve();
        const signal = calls[0]?.ctx.signal as AbortSignal;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
        sawAbort = true;
        await new Promise((resolve) => setTimeout(resolve, 60_000).unref()); // work that ignores the signal
        return undefined;
      },
      { stopTimeoutMs: 300 },
    );
    await createCm(uniqueName('cancel'), labels);
    await entered.promise;
    expect(scoped).toBe(calls[0]?.ctx.signal);
    expect(calls[0]?.ctx.signal.aborted).toBe(false);
    const t0 = Date.now();
    await controller.stop();
    expect(sawAbort).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('two controllers watching one kind share one informer: one list, one watch, both reconcile', async () => {
    const proxy = await countingKubeProxy(kc);
    const value = uniqueName('shared');
    const cache = createInformerCache({ kubeConfig: proxy.kubeConfig, logger: pino({ level: 'silent' }) });
    const seen = { a: [] as string[], b: [] as string[] };
    try {
      for (const name of ['a', 'b'] as const) {
        const controller = createController({
          name: `${value}-${name}`,
          logger: pino({ level: 'silent' }),
          cache,
          watches: { for: configMaps(value) },
          reconciler: {
            async reconcile(key) {
              seen[name].push(cache.objects(configMaps(value)).get(key.namespace, key.name)?.data?.v ?? '');
              return undefined;
            },
          },
        });
        running.push(controller);
        await controller.start();
      }
      const cm = uniqueName('cm');
      await createCm(cm, { [LABEL]: value }, '7');
      await eventually('both reconciled', () => seen.a.includes('7') && seen.b.includes('7'));
      const configMapCalls = proxy.requests.filter((r) => r.path === '/api/v1/configmaps');
      expect(configMapCalls.filter((r) => !r.query.includes('watch=true'))).toHaveLength(1);
      expect(configMapCalls.filter((r) => r.query.includes('watch=true'))).toHaveLength(1);
    } finally {
      await Promise.all(running.splice(0).map((c) => c.stop()));
      await cache.stop();
      await proxy.close();
    }
  });
});
