// The operator end to end on the real control plane and the real API: OneclawVault → vault and
// grants; SecretSync → a Kubernetes Secret read with the workload's own identity, pushed on
// change, restored on drift, refused beyond the service account's grants, collected with its
// owner; deletionPolicy Delete crypto-shreds.
import { AppsV1Api, type CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../../test/support/api.js';
import type { KubeIdentities } from '../../test/support/kube-identity.js';
import { OPERATOR_ACCOUNT, startTestOperator } from '../../test/support/operator.js';
import { freePort } from '../../test/support/ports.js';
import { GROUP, PLURAL_SYNCS, PLURAL_VAULTS, VERSION } from './apis/v1alpha1/types.js';
import { RESTARTED_AT } from './controllers/secretsync/restarts.js';
import { type RunningOperator, startOperator } from './operator.js';
import { eventually } from './runtime/test-helpers.js';
import { type OperatorSuite, operatorSuite } from './test-helpers.js';

describe('operator', () => {
  let suite: OperatorSuite;
  let api: TestApi;
  let kube: KubeIdentities;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let operator: RunningOperator;
  let ns: string;

  const getVault = (name: string) => suite.getVault(name);
  const getSync = (name: string) => suite.getSync(name);
  const createSync = (name: string, spec: Parameters<OperatorSuite['createSync']>[1]) =>
    suite.createSync(name, spec);
  const readSecret = (name: string) => suite.readSecret(name);
  const condition = (
    obj: { status?: { conditions?: Array<{ type: string; status: string; reason: string }> } },
    type: string,
  ) => obj.status?.conditions?.find((c) => c.type === type);
  const put = (vaultId: string, path: string, value: string) => suite.put(vaultId, path, value);

  beforeAll(async () => {
    suite = await operatorSuite('op', ['app', 'nobody']);
    ({ api, kube, kc, custom, ns } = suite);
    operator = await suite.startOperator();
  });
  afterAll(async () => {
    await suite?.close();
  });

  let vaultId: string;

  it('turns a OneclawVault into a vault with grants for its service accounts', async () => {
    await suite.createVault('main', {
      deletionPolicy: 'Delete',
      access: [{ serviceAccount: 'app', paths: ['app/**'], permissions: ['read', 'list'] }],
    });
    const v = await eventually('vault Ready', async () => {
      const got = await getVault('main');
      return condition(got, 'Ready')?.status === 'True' && got;
    });
    vaultId = v.status?.vaultId as string;
    expect(v.status).toMatchObject({ kekVersion: 1, observedGeneration: 1 });
    expect(v.metadata.finalizers).toContain('oneclaw.dev/vault-protection');
    const policies = (await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/policies` })).json() as {
      policies: Array<{ principal_id: string; secret_path_pattern: string; permissions: string[] }>;
    };
    expect(policies.policies).toEqual([
      expect.objectContaining({
        principal_id: kube.username('app'),
        secret_path_pattern: 'app/**',
        permissions: ['read', 'list'],
      }),
    ]);
    // The vault was created by the operator's own identity, not an admin key.
    const audit = await api.db.pool.query(
      `SELECT actor FROM audit_events WHERE action = 'vault.create' AND vault_id = $1`,
      [vaultId],
    );
    expect(audit.rows).toEqual([{ actor: kube.username(OPERATOR_ACCOUNT) }]);
  });

  it('syncs what the service account may read into a Secret it owns, and pushes changes', async () => {
    await put(vaultId, 'app/db/password', 's3cret-1');
    await put(vaultId, 'app/env/LOG_LEVEL', 'debug');
    const apps = kc.makeApiClient(AppsV1Api);
    await suite.createDeployment('web');
    await createSync('app', {
      vaultRef: { name: 'main' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'password', path: 'app/db/password' }],
      dataFrom: [{ path: 'app/env/*' }],
      target: {
        name: 'app-secrets',
        template: { data: { url: 'postgres://app:{{ .password }}@db/app', level: '{{ .LOG_LEVEL }}' } },
      },
      rolloutRestartTargets: [{ kind: 'Deployment', name: 'web' }],
    });
    expect(await eventually('Secret', () => readSecret('app-secrets'))).toEqual({
      url: 'postgres://app:s3cret-1@db/app',
      level: 'debug',
    });
    const sync = await eventually('Synced', async () => {
      const s = await getSync('app');
      return condition(s, 'Synced')?.status === 'True' && s;
    });
    expect(sync.status).toMatchObject({
      targetName: 'app-secrets',
      syncedVersions: { 'app/db/password': 1, 'app/env/LOG_LEVEL': 1 },
    });
    expect(sync.status?.secretHash).toMatch(/^sha256:/);
    expect(JSON.stringify(sync.status)).not.toContain('s3cret-1');
    const secret = await kube.core.readNamespacedSecret({ name: 'app-secrets', namespace: ns });
    expect(secret.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'SecretSync', name: 'app', controller: true }),
    ]);

    // A write through the API reaches the Secret through the change feed, and restarts the workload once.
    const t0 = Date.now();
    await put(vaultId, 'app/db/password', 's3cret-2');
    await put(vaultId, 'app/env/LOG_LEVEL', 'info');
    await eventually(
      'pushed',
      async () =>
        (await readSecret('app-secrets'))?.level === 'info' &&
        (await readSecret('app-secrets'))?.url?.includes('s3cret-2'),
    );
    const propagation = Date.now() - t0;
    expect(propagation).toBeLessThan(5_000);
    const restarted = await eventually('restart', async () => {
      const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
      return d.spec?.template.metadata?.annotations?.[RESTARTED_AT];
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    // Both writes within the debounce window: one restart.
    expect(d.spec?.template.metadata?.annotations?.[RESTARTED_AT]).toBe(restarted);
    expect(d.metadata?.generation).toBe(2);
  });

  it('restores the Secret when it is edited or deleted by hand', async () => {
    const edited = await kube.core.readNamespacedSecret({ name: 'app-secrets', namespace: ns });
    edited.data = { ...edited.data, url: Buffer.from('tampered').toString('base64') };
    await kube.core.replaceNamespacedSecret({ name: 'app-secrets', namespace: ns, body: edited });
    await eventually('restored after edit', async () =>
      (await readSecret('app-secrets'))?.url?.includes('s3cret-2'),
    );
    await kube.core.deleteNamespacedSecret({ name: 'app-secrets', namespace: ns });
    await eventually('recreated', async () => (await readSecret('app-secrets'))?.url?.includes('s3cret-2'));
  });

  it('never reads beyond the service account grants', async () => {
    await put(vaultId, 'ops/root', 'root-password');
    await createSync('nobody', {
      vaultRef: { name: 'main' },
      serviceAccountName: 'nobody',
      data: [{ secretKey: 'p', path: 'app/db/password' }],
    });
    await createSync('outside', {
      vaultRef: { name: 'main' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'root', path: 'ops/root' }],
    });
    for (const name of ['nobody', 'outside']) {
      const s = await eventually(`${name} denied`, async () => {
        const got = await getSync(name);
        return condition(got, 'Ready')?.reason === 'AccessDenied' && got;
      });
      expect(condition(s, 'Ready')?.status).toBe('False');
      expect(await readSecret(name)).toBeUndefined();
    }
    const events = await kube.core.listNamespacedEvent({ namespace: ns });
    expect(events.items.some((e) => e.involvedObject.name === 'outside' && e.reason === 'AccessDenied')).toBe(
      true,
    );
    expect(JSON.stringify(events.items)).not.toContain('root-password');
    expect(JSON.stringify(events.items)).not.toContain('s3cret');
  });

  it('follows a spec update: the denied sync, pointed at a granted account, becomes Synced', async () => {
    const before = await getSync('nobody');
    await suite.replace({ ...before, spec: { ...before.spec, serviceAccountName: 'app' } });
    const synced = await eventually('nobody synced', async () => {
      const got = await getSync('nobody');
      return condition(got, 'Ready')?.status === 'True' && got;
    });
    expect(synced.status?.observedGeneration).toBe(2);
    expect(await readSecret('nobody')).toEqual({ p: 's3cret-2' });
  });

  it('turns a sync not-Ready when its grant is removed, keeping the Secret by default', async () => {
    const v = await getVault('main');
    await suite.replace({
      ...v,
      spec: { ...v.spec, access: [{ serviceAccount: 'app', paths: ['other/**'], permissions: ['read'] }] },
    });
    await eventually(
      'app AccessDenied',
      async () => condition(await getSync('app'), 'Ready')?.reason === 'AccessDenied',
    );
    expect((await readSecret('app-secrets'))?.url).toContain('s3cret-2');
  });

  it('lets the garbage collector remove the Secret with its SecretSync, and purges the vault with deletionPolicy Delete', async () => {
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL_SYNCS,
      name: 'app',
    });
    // kube-controller-manager's garbage collector learns new CRDs by periodic discovery.
    await eventually('Secret collected', async () => (await readSecret('app-secrets')) === undefined, 90_000);
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL_VAULTS,
      name: 'main',
    });
    await eventually('vault gone', async () => {
      try {
        await getVault('main');
        return false;
      } catch {
        return true;
      }
    });
    expect((await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}` })).statusCode).toBe(404);
    const { rows } = await api.db.pool.query(
      'SELECT count(*)::int AS n FROM vault_keks WHERE vault_id = $1 AND wrapped_kek IS NOT NULL',
      [vaultId],
    );
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('exports reconcile metrics and propagation latency', async () => {
    const text = await (await fetch(`${operator.metricsUrl}/metrics`)).text();
    expect(text).toMatch(/oneclaw_operator_reconcile_total\{[^}]*controller="secretsync"/);
    expect(text).toMatch(/oneclaw_operator_sync_propagation_seconds_count [1-9]/);
    expect(operator.isLeader()).toBe(true);
  });

  it('is ready on every replica that reaches the API, leader or not, and live without it', async () => {
    expect((await fetch(`${operator.metricsUrl}/healthz`)).status).toBe(200);
    const leader = await fetch(`${operator.metricsUrl}/readyz`);
    expect(leader.status).toBe(200);
    expect(await leader.json()).toEqual({ status: 'ready' });

    // A second replica waits for the Lease the first holds, and is ready all the same.
    const standby = await startTestOperator({ api, kube, kubeConfig: kc, identity: 'standby' });
    try {
      expect(standby.isLeader()).toBe(false);
      expect((await fetch(`${standby.metricsUrl}/readyz`)).status).toBe(200);
    } finally {
      await standby.stop();
    }

    // A replica whose API does not answer stays live but is taken out of service.
    const apiUrl = `http://127.0.0.1:${await freePort()}`;
    const cut = await startOperator({
      config: {
        apiUrl,
        namespace: ns,
        serviceAccount: OPERATOR_ACCOUNT,
        tokenFile: undefined,
        audience: 'oneclaw',
        metricsListen: { host: '127.0.0.1', port: 0 },
        leaderElection: true,
        concurrency: 1,
        watchNamespace: ns,
      },
      kubeConfig: kc,
      logger: pino({ level: 'silent' }),
      apiUrl,
      identity: 'cut-off',
    });
    try {
      expect(cut.isLeader()).toBe(false);
      expect((await fetch(`${cut.metricsUrl}/healthz`)).status).toBe(200);
      const res = await fetch(`${cut.metricsUrl}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'not_ready', problems: [`API ${apiUrl} unreachable`] });
    } finally {
      await cut.stop();
    }
  });
});
