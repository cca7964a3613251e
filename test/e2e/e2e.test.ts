// oneclaw installed the way users install it, driven through Kubernetes and the API only. By
// default (E2E_CLUSTER unset) the installation is local: a private control plane, the chart's
// CRDs and RBAC applied, the API and the operator running as processes with the chart's
// environment and their own ServiceAccounts' tokens — a permission the chart lacks fails a
// scenario here. With E2E_CLUSTER=kind the same scenarios run against the chart installed in a
// kind cluster by hack/kind-up.sh. The scenarios build on each other and run in order.
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  KubernetesObjectApi,
  type V1Secret,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GROUP,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  type OneclawVault,
  PLURAL_SYNCS,
  PLURAL_VAULTS,
  type SecretSync,
  SYNC_LABEL,
  VERSION,
} from '../../operator/src/apis/v1alpha1/types.js';
import { vaultNameFor } from '../../operator/src/controllers/oneclawvault/ownership.js';
import { RESTARTED_AT } from '../../operator/src/controllers/secretsync/restarts.js';
import { createClient, type OneclawClient, OneclawError } from '../../sdk/src/index.js';
import { eventually } from '../support/eventually.js';
import { kubeConfigFor } from '../support/fixtures.js';
import { newCanary, type ObjectHistory, recordObjectHistory } from '../support/leak-scan.js';
import { type E2eEnvironment, startEnvironment } from './environment.js';
import { assertNoLeaks } from './leak-check.js';

/** Long enough for a busy two-core machine; a missing permission still fails well inside the suite's budget. */
const CONVERGE_MS = 45_000;
const POLL_MS = 200;
const LEASE = 'oneclaw-operator';

const workloadNamespace = `shop-${Math.random().toString(36).slice(2, 8)}`;
/** Every value the suite writes carries this run's canary; the leak scan looks for it everywhere else. */
const canary = newCanary();
const secretValue = (s: string) => `${s}-${canary}`;

describe(`oneclaw end to end (${process.env.E2E_CLUSTER ?? 'local'})`, () => {
  let env: E2eEnvironment;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let custom: CustomObjectsApi;
  let admin: OneclawClient;
  let history: ObjectHistory | undefined;
  let written = 0;
  const ns = workloadNamespace;
  const put = async (...args: Parameters<OneclawClient['secrets']['put']>) => {
    const res = await admin.secrets.put(...args);
    written++;
    return res;
  };

  /** Fails with the processes' logs attached, so a missing permission names itself. */
  const converge = async <T>(what: string, probe: () => Promise<T | undefined | false>): Promise<T> => {
    try {
      return await eventually(what, probe, CONVERGE_MS, POLL_MS);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${env.logs()}`);
    }
  };

  const cr = (plural: string) => ({ group: GROUP, version: VERSION, namespace: ns, plural });
  const getVault = (name: string) =>
    custom.getNamespacedCustomObject({ ...cr(PLURAL_VAULTS), name }) as Promise<OneclawVault>;
  const getSync = (name: string) =>
    custom.getNamespacedCustomObject({ ...cr(PLURAL_SYNCS), name }) as Promise<SecretSync>;
  const createVault = (name: string, spec: OneclawVault['spec']) =>
    custom.createNamespacedCustomObject({
      ...cr(PLURAL_VAULTS),
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'OneclawVault', metadata: { name }, spec },
    });
  const createSync = (name: string, spec: SecretSync['spec']) =>
    custom.createNamespacedCustomObject({
      ...cr(PLURAL_SYNCS),
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'SecretSync', metadata: { name }, spec },
    });
  const condition = (obj: OneclawVault | SecretSync, type: string) =>
    obj.status?.conditions?.find((c) => c.type === type);
  const readSecret = async (name: string): Promise<V1Secret | undefined> => {
    try {
      return await core.readNamespacedSecret({ name, namespace: ns });
    } catch {
      return undefined;
    }
  };
  const decoded = (s: V1Secret | undefined) =>
    Object.fromEntries(
      Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
    );
  /** The rollout-restart annotation of each workload the sync restarts. */
  const restartStamps = async () => ({
    deployment: (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.template.metadata
      ?.annotations?.[RESTARTED_AT],
    statefulset: (await apps.readNamespacedStatefulSet({ name: 'web-db', namespace: ns })).spec?.template
      .metadata?.annotations?.[RESTARTED_AT],
    daemonset: (await apps.readNamespacedDaemonSet({ name: 'web-agent', namespace: ns })).spec?.template
      .metadata?.annotations?.[RESTARTED_AT],
  });
  const eventsFor = async (kind: string, name: string) =>
    (
      await core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}`,
      })
    ).items;
  /** A client that acts as a workload's service account, as a pod with a projected token would. */
  const asServiceAccount = (name: string) =>
    createClient({
      baseUrl: env.apiUrl,
      credentials: {
        kubernetesToken: async () => {
          const res = await core.createNamespacedServiceAccountToken({
            namespace: ns,
            name,
            body: {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenRequest',
              spec: { audiences: [env.audience], expirationSeconds: 600 },
            },
          });
          return res.status?.token as string;
        },
      },
    });

  beforeAll(async () => {
    env = await startEnvironment();
    kc = kubeConfigFor(env.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    admin = createClient({ baseUrl: env.apiUrl, credentials: { apiKey: env.adminApiKey } });
    history = await recordObjectHistory(kc);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    for (const name of ['web', 'batch', 'nobody']) {
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    }
  }, 300_000);

  afterAll(async () => {
    try {
      // Run after every run that installed anything, whichever scenarios passed: a hit fails the
      // suite with where each one was.
      if (env && history) {
        console.log(await assertNoLeaks({ env, kc, canary, history, namespace: ns, written }));
      }
    } finally {
      history?.stop();
      if (env?.mode === 'kind') await core?.deleteNamespace({ name: ns }).catch(() => {});
      await env?.close();
    }
  }, 180_000);

  it('install: the CRDs are established, the API and the operator are ready, the operator holds its Lease', async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    expect(env.crdNames.sort()).toEqual(['oneclawvaults.oneclaw.dev', 'secretsyncs.oneclaw.dev']);
    for (const name of env.crdNames) {
      const crd = await ext.readCustomResourceDefinition({ name });
      expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    }
    expect(await env.apiReady()).toBe(true);

    // Held, and renewed: the holder's renewTime moves on (the Role allows get and update).
    const leases = kc.makeApiClient(CoordinationV1Api);
    const first = await converge('the operator to hold its Lease', async () => {
      const l = await leases.readNamespacedLease({ name: LEASE, namespace: env.namespace });
      return l.spec?.holderIdentity ? l : undefined;
    });
    // A replica is ready as a standby too; once it leads, only when its caches are filled, which
    // a few moments after winning the Lease they may not be yet.
    await converge('the operator, leading, to be ready', () => env.operatorReady());
    await converge('the operator to renew its Lease', async () => {
      const l = await leases.readNamespacedLease({ name: LEASE, namespace: env.namespace });
      return (
        l.spec?.holderIdentity === first.spec?.holderIdentity &&
        String(l.spec?.renewTime) !== String(first.spec?.renewTime)
      );
    });
  });

  let shopVaultId: string;
  let scratchVaultId: string;

  it('vault, grants and sync: a OneclawVault grants a workload account, a SecretSync writes what it may read into a Secret', async () => {
    const template = (labels: Record<string, string>) => ({
      metadata: { labels },
      spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
    });
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { selector: { matchLabels: { app: 'web' } }, template: template({ app: 'web' }) },
      },
    });
    await apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: 'web-db' },
        spec: {
          serviceName: 'web-db',
          selector: { matchLabels: { app: 'web-db' } },
          template: template({ app: 'web-db' }),
        },
      },
    });
    await apps.createNamespacedDaemonSet({
      namespace: ns,
      body: {
        metadata: { name: 'web-agent' },
        spec: { selector: { matchLabels: { app: 'web-agent' } }, template: template({ app: 'web-agent' }) },
      },
    });

    await createVault('shop', {
      deletionPolicy: 'Retain',
      access: [
        { serviceAccount: 'web', paths: ['web/**'], permissions: ['read', 'list'] },
        { serviceAccount: 'batch', paths: ['batch/**'], permissions: ['read'] },
      ],
    });
    await createVault('scratch', { deletionPolicy: 'Delete' });
    const ready = (name: string) =>
      converge(`OneclawVault ${name} Ready`, async () => {
        const v = await getVault(name);
        return condition(v, 'Ready')?.status === 'True' && v;
      });
    const shop = await ready('shop');
    const scratch = await ready('scratch');
    shopVaultId = shop.status?.vaultId as string;
    scratchVaultId = scratch.status?.vaultId as string;
    expect(shop.status).toMatchObject({ kekVersion: 1, observedGeneration: 1 });
    expect(shop.metadata.finalizers).toEqual(['oneclaw.dev/vault-protection']);

    // The vault and its grant exist in the API, made by the operator's own service account.
    const shopVault = await admin.vaults.get(shopVaultId);
    expect(shopVault.name).toBe(vaultNameFor(ns, 'shop'));
    expect(shopVault.owner).toMatchObject({
      kind: 'OneclawVault',
      namespace: ns,
      name: 'shop',
      uid: shop.metadata.uid,
    });
    expect(
      (await admin.policies.list(shopVaultId)).map((p) => [
        p.principal_id,
        p.secret_path_pattern,
        p.permissions,
      ]),
    ).toEqual(
      expect.arrayContaining([
        [`system:serviceaccount:${ns}:web`, 'web/**', ['read', 'list']],
        [`system:serviceaccount:${ns}:batch`, 'batch/**', ['read']],
      ]),
    );
    expect(await admin.policies.list(shopVaultId)).toHaveLength(2);
    const audit = await admin.audit.list({ vault_id: shopVaultId });
    expect(audit.events.find((e) => e.action === 'vault.create')?.actor).toBe(
      `system:serviceaccount:${env.namespace}:${env.operatorServiceAccount}`,
    );

    await put(shopVaultId, 'web/db/password', { type: 'password', value: secretValue('pw-1') });
    await put(shopVaultId, 'web/env/LOG_LEVEL', { type: 'note', value: secretValue('info') });
    await put(shopVaultId, 'batch/token', { type: 'api_key', value: secretValue('batch-1') });
    await put(scratchVaultId, 'tmp/token', { type: 'api_key', value: secretValue('scratch-1') });

    await createSync('web', {
      vaultRef: { name: 'shop' },
      serviceAccountName: 'web',
      data: [{ secretKey: 'DB_PASSWORD', path: 'web/db/password' }],
      dataFrom: [{ path: 'web/env/*' }],
      target: { labels: { app: 'web' } },
      rolloutRestartTargets: [
        { kind: 'Deployment', name: 'web' },
        { kind: 'StatefulSet', name: 'web-db' },
        { kind: 'DaemonSet', name: 'web-agent' },
      ],
    });
    // Two syncs of the batch account that differ in what losing access does to their Secret.
    for (const onAccessLoss of ['Retain', 'Delete'] as const) {
      await createSync(`batch-${onAccessLoss.toLowerCase()}`, {
        vaultRef: { name: 'shop' },
        serviceAccountName: 'batch',
        data: [{ secretKey: 'TOKEN', path: 'batch/token' }],
        onAccessLoss,
      });
    }
    // A sync that names an account without a grant gets nothing: creating it never widens access.
    await createSync('intruder', {
      vaultRef: { name: 'shop' },
      serviceAccountName: 'nobody',
      data: [{ secretKey: 'DB_PASSWORD', path: 'web/db/password' }],
    });

    const secret = await converge('Secret web', () => readSecret('web'));
    expect(decoded(secret)).toEqual({ DB_PASSWORD: secretValue('pw-1'), LOG_LEVEL: secretValue('info') });
    expect(secret.metadata?.labels).toEqual({
      app: 'web',
      [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
      [SYNC_LABEL]: 'web',
    });
    expect(secret.metadata?.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'SecretSync',
        name: 'web',
        controller: true,
        blockOwnerDeletion: true,
      }),
    ]);
    const sync = await converge('SecretSync web Synced', async () => {
      const s = await getSync('web');
      return condition(s, 'Synced')?.status === 'True' && s;
    });
    expect(sync.status).toMatchObject({
      targetName: 'web',
      syncedVersions: { 'web/db/password': 1, 'web/env/LOG_LEVEL': 1 },
    });
    for (const name of ['batch-retain', 'batch-delete']) {
      expect(decoded(await converge(`Secret ${name}`, () => readSecret(name)))).toEqual({
        TOKEN: secretValue('batch-1'),
      });
    }
    const intruder = await converge('SecretSync intruder refused', async () => {
      const s = await getSync('intruder');
      return condition(s, 'Ready')?.reason === 'AccessDenied' && s;
    });
    expect(condition(intruder, 'Ready')?.status).toBe('False');
    expect(await readSecret('intruder')).toBeUndefined();

    // The workload's own identity reads what the sync wrote; the first sync restarts nothing.
    expect((await asServiceAccount('web').secrets.get(shopVaultId, 'web/db/password')).value).toBe(
      secretValue('pw-1'),
    );
    expect(await restartStamps()).toEqual({
      deployment: undefined,
      statefulset: undefined,
      daemonset: undefined,
    });
    // Every state change is an Event on its object.
    await converge('Events on the OneclawVault and the SecretSync', async () => {
      const reasons = [
        ...(await eventsFor('OneclawVault', 'shop')),
        ...(await eventsFor('SecretSync', 'web')),
        ...(await eventsFor('SecretSync', 'intruder')),
      ].map((e) => e.reason);
      return ['VaultCreated', 'SecretCreated', 'AccessDenied'].every((r) => reasons.includes(r));
    });
  });

  it('rotation: a new version written through the API reaches the Secret and restarts the workloads', async () => {
    const rotate = async (value: string, version: number) => {
      const before = await restartStamps();
      const res = await put(shopVaultId, 'web/db/password', { type: 'password', value });
      expect(res.version).toBe(version);
      await converge(`Secret web to hold version ${version}`, async () => {
        return decoded(await readSecret('web')).DB_PASSWORD === value;
      });
      await converge(`SecretSync web to record version ${version}`, async () => {
        const s = await getSync('web');
        return s.status?.syncedVersions?.['web/db/password'] === version;
      });
      // Every rollout target restarted, once, after the new value was in place.
      return converge('every rollout target restarted', async () => {
        const now = await restartStamps();
        return Object.entries(now).every(([k, v]) => v && v !== before[k as keyof typeof before]) && now;
      });
    };
    const first = await rotate(secretValue('pw-2'), 2);
    const second = await rotate(secretValue('pw-3'), 3);
    expect(Date.parse(second.deployment as string)).toBeGreaterThan(Date.parse(first.deployment as string));
    expect(decoded(await readSecret('web'))).toEqual({
      DB_PASSWORD: secretValue('pw-3'),
      LOG_LEVEL: secretValue('info'),
    });

    // The repeated Event is aggregated into one with a count, as kubectl's are.
    await converge('SecretUpdated aggregated', async () => {
      const updated = (await eventsFor('SecretSync', 'web')).filter((e) => e.reason === 'SecretUpdated');
      return updated.length === 1 && (updated[0]?.count ?? 0) >= 2;
    });
    // One per rotation, naming every workload restarted (the same message aggregated).
    await converge('RolloutRestarted events', async () => {
      const restarted = (await eventsFor('SecretSync', 'web')).filter((e) => e.reason === 'RolloutRestarted');
      expect(restarted.map((e) => e.message)).toEqual([
        'restarted Deployment web, StatefulSet web-db, DaemonSet web-agent',
      ]);
      return restarted.reduce((n, e) => n + (e.count ?? 1), 0) >= 2;
    });
  });

  it('KEK rotation: every synced value stays readable and the Secrets stay current', async () => {
    const before = await readSecret('web');
    const beforeSync = await getSync('web');
    const stamps = await restartStamps();
    expect((await admin.vaults.get(shopVaultId)).kek_version).toBe(1);

    const job = await admin.vaults.rotateKek(shopVaultId);
    const done = await converge('the KEK rotation job', async () => {
      const j = await admin.jobs.get(job.id);
      if (j.status === 'failed') throw new Error(`KEK rotation failed: ${j.error}`);
      return j.status === 'succeeded' && j;
    });
    expect(done).toMatchObject({ kind: expect.stringMatching(/kek/i), vault_id: shopVaultId });
    expect(done.processed).toBe(done.total);
    expect((await admin.vaults.get(shopVaultId)).kek_version).toBe(2);

    // Every version the Secret holds reads back, as the admin and as the workload's account.
    const web = asServiceAccount('web');
    const values = decoded(before);
    for (const [path, version] of Object.entries(beforeSync.status?.syncedVersions ?? {})) {
      const key = path === 'web/db/password' ? 'DB_PASSWORD' : (path.split('/').pop() as string);
      expect((await admin.secrets.get(shopVaultId, path, { version })).value).toBe(values[key]);
      expect((await web.secrets.get(shopVaultId, path, { version })).value).toBe(values[key]);
    }
    // Every older version too (their DEKs were re-wrapped, not re-encrypted).
    for (const [version, value] of [
      [1, secretValue('pw-1')],
      [2, secretValue('pw-2')],
    ] as const) {
      expect((await web.secrets.get(shopVaultId, 'web/db/password', { version })).value).toBe(value);
    }

    // The Secret was not rewritten and nothing restarted.
    const after = await readSecret('web');
    expect(after?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect((await getSync('web')).status?.secretHash).toBe(beforeSync.status?.secretHash);
    expect(await restartStamps()).toEqual(stamps);

    // Deleted by hand, the Secret comes back from reads under the new KEK, equal, without a restart.
    await core.deleteNamespacedSecret({ name: 'web', namespace: ns });
    const restored = await converge('Secret web restored', async () => {
      const s = await readSecret('web');
      return s && s.metadata?.uid !== before?.metadata?.uid && s;
    });
    expect(decoded(restored)).toEqual(values);
    expect(await restartStamps()).toEqual(stamps);

    // A write after the rotation (its key wrapped by the new KEK version) still reaches the Secret.
    await put(shopVaultId, 'web/env/LOG_LEVEL', { type: 'note', value: secretValue('debug') });
    await converge('Secret web to hold the post-rotation write', async () => {
      return decoded(await readSecret('web')).LOG_LEVEL === secretValue('debug');
    });
  });

  it('access loss: a revoked grant keeps the Secret of an onAccessLoss Retain sync and deletes that of a Delete sync', async () => {
    const shop = await getVault('shop');
    shop.spec.access = (shop.spec.access ?? []).filter((a) => a.serviceAccount !== 'batch');
    await custom.replaceNamespacedCustomObject({ ...cr(PLURAL_VAULTS), name: 'shop', body: shop });
    await converge('the batch grant to be revoked in oneclaw', async () => {
      const grants = await admin.policies.list(shopVaultId);
      return grants.every((g) => !g.principal_id.endsWith(':batch'));
    });
    for (const name of ['batch-retain', 'batch-delete']) {
      await converge(`SecretSync ${name} AccessDenied`, async () => {
        const s = await getSync(name);
        return condition(s, 'Ready')?.reason === 'AccessDenied';
      });
    }
    await converge(
      'the onAccessLoss Delete Secret to be deleted',
      async () => !(await readSecret('batch-delete')),
    );
    // Retain: running pods keep the last value they had.
    expect(decoded(await readSecret('batch-retain'))).toEqual({ TOKEN: secretValue('batch-1') });
    // The workload whose grant stayed is untouched.
    expect(decoded(await readSecret('web')).DB_PASSWORD).toBe(secretValue('pw-3'));
  });

  it('uninstall: no operator-owned resources remain; Retain keeps the vault in oneclaw, Delete shreds it', async () => {
    // Users delete their resources while the operator still runs (its finalizer cleans up).
    for (const plural of [PLURAL_SYNCS, PLURAL_VAULTS]) {
      await custom.deleteCollectionNamespacedCustomObject(cr(plural));
    }
    await converge('the SecretSyncs and OneclawVaults to be gone', async () => {
      const syncs = await custom.listNamespacedCustomObject(cr(PLURAL_SYNCS));
      const vaults = await custom.listNamespacedCustomObject(cr(PLURAL_VAULTS));
      return (
        (syncs as { items: unknown[] }).items.length === 0 &&
        (vaults as { items: unknown[] }).items.length === 0
      );
    });
    await converge('the synced Secrets to be collected with their owners', async () => {
      const left = await core.listNamespacedSecret({
        namespace: ns,
        labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
      });
      return left.items.length === 0;
    });

    // deletionPolicy Retain: the vault, its secrets and its grants stay in oneclaw.
    expect((await admin.vaults.get(shopVaultId)).id).toBe(shopVaultId);
    expect((await admin.secrets.get(shopVaultId, 'web/db/password')).value).toBe(secretValue('pw-3'));
    expect((await admin.policies.list(shopVaultId)).map((p) => p.principal_id)).toEqual([
      `system:serviceaccount:${ns}:web`,
    ]);
    expect((await admin.secrets.get(shopVaultId, 'batch/token')).value).toBe(secretValue('batch-1'));
    // deletionPolicy Delete: purged, nothing in it can be read.
    const purged = await admin.secrets.get(scratchVaultId, 'tmp/token').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(purged).toBeInstanceOf(OneclawError);
    expect([404, 410]).toContain((purged as OneclawError).status);

    // The operator stops and hands its Lease back.
    await env.stopOperator();
    const leases = kc.makeApiClient(CoordinationV1Api);
    const lease = await leases.readNamespacedLease({ name: LEASE, namespace: env.namespace });
    expect(lease.spec?.holderIdentity ?? '').toBe('');

    await env.uninstall();
    // Nothing the operator wrote is left in the cluster: no Secret with its labels anywhere, no
    // custom resource, and none of the chart's objects.
    const labelled = await core.listSecretForAllNamespaces({
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    });
    expect(labelled.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)).toEqual([]);
    const bySync = await core.listSecretForAllNamespaces({ labelSelector: SYNC_LABEL });
    expect(bySync.items).toEqual([]);
    for (const plural of [PLURAL_SYNCS, PLURAL_VAULTS]) {
      const all = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as {
        items: unknown[];
      };
      expect(all.items).toEqual([]);
    }
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const remaining: string[] = [];
    for (const o of env.chartObjects) {
      const exists = await objects
        .read({
          apiVersion: o.apiVersion,
          kind: o.kind,
          metadata: { name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}) },
        })
        .then(
          () => true,
          (err: unknown) => (err as { code?: number }).code !== 404,
        );
      if (exists) remaining.push(`${o.kind}/${o.name}`);
    }
    expect(remaining).toEqual([]);
    // The workloads are the user's: they stay, with the last restart the operator asked for.
    expect((await restartStamps()).deployment).toBeDefined();
  });
});
