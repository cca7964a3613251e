// Vault ownership against the real control plane and the real API: a OneclawVault acts only on
// the vault that records its uid. Names that joined the same way (`a/b-c` and `a-b/c`, `x.y` and
// `x-y`), an admin's vault of the very name the operator derives, and a forged status.vaultId
// must neither change grants on nor purge another vault; a vault created just before a crash
// lost the status write is found again by uid, and an old operator's vault (no owner) is used
// only once an admin records its owner.
import { randomUUID } from 'node:crypto';
import type { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../../test/support/api.js';
import type { KubeIdentities } from '../../test/support/kube-identity.js';
import { OPERATOR_ACCOUNT, startTestOperator } from '../../test/support/operator.js';
import { GROUP, type OneclawVault, PLURAL_VAULTS, Reason, VERSION } from './apis/v1alpha1/types.js';
import { vaultNameFor } from './controllers/oneclawvault/reconciler.js';
import type { RunningOperator } from './operator.js';
import { kubeRequest, namespacedPath } from './runtime/kube-request.js';
import { eventually } from './runtime/test-helpers.js';
import { type OperatorSuite, operatorSuite } from './test-helpers.js';

interface ApiVault {
  id: string;
  name: string;
  owner: { kind: string; namespace: string; name: string; uid: string } | null;
}

describe('vault ownership', () => {
  let suite: OperatorSuite;
  let api: TestApi;
  let kube: KubeIdentities;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  /** The victim's namespace, and `<victim>-prod`, which joins with a name the same way. */
  let nsA: string;
  let nsB: string;
  /** Served by an operator started only once objects exist (a crash before the status write). */
  let nsLate: string;
  const operators: RunningOperator[] = [];

  const createNamespace = async (name: string) => {
    await kube.core.createNamespace({ body: { metadata: { name, labels: { 'oneclaw.dev/test': 'own' } } } });
    for (const sa of [OPERATOR_ACCOUNT, 'app', 'thief']) {
      await kube.core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: sa } } });
    }
  };
  const operatorFor = async (namespace: string) => {
    const op = await startTestOperator({ api, kube: { ...kube, namespace }, kubeConfig: kc });
    operators.push(op);
    return op;
  };

  const createVaultObject = (namespace: string, name: string, spec: OneclawVault['spec']) =>
    custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL_VAULTS,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'OneclawVault', metadata: { name, namespace }, spec },
    }) as Promise<OneclawVault>;
  const getVaultObject = (namespace: string, name: string) =>
    custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL_VAULTS,
      name,
    }) as Promise<OneclawVault>;
  const ready = (o: OneclawVault) => o.status?.conditions?.find((c) => c.type === 'Ready');
  const waitReady = (namespace: string, name: string) =>
    eventually(`${namespace}/${name} Ready`, async () => {
      const o = await getVaultObject(namespace, name);
      return ready(o)?.status === 'True' && o.status?.observedGeneration === o.metadata.generation && o;
    });
  const waitReason = (namespace: string, name: string, reason: string) =>
    eventually(`${namespace}/${name} ${reason}`, async () => {
      const o = await getVaultObject(namespace, name);
      return ready(o)?.reason === reason && o;
    });
  const deleteAndWaitGone = async (namespace: string, name: string) => {
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL_VAULTS,
      name,
    });
    await eventually(`${namespace}/${name} gone`, async () => {
      try {
        await getVaultObject(namespace, name);
        return false;
      } catch {
        return true;
      }
    });
  };
  /** Changes a label: a reconcile without a spec change. */
  const touch = (namespace: string, name: string) =>
    kubeRequest(kc, {
      method: 'PATCH',
      path: namespacedPath(`${GROUP}/${VERSION}`, PLURAL_VAULTS, namespace, name),
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { touched: String(Date.now()) } } },
    });
  /** What anyone allowed to patch the status subresource can do. */
  const forgeVaultId = (namespace: string, name: string, vaultId: string) =>
    kubeRequest(kc, {
      method: 'PATCH',
      path: `${namespacedPath(`${GROUP}/${VERSION}`, PLURAL_VAULTS, namespace, name)}/status`,
      contentType: 'application/merge-patch+json',
      body: { status: { vaultId } },
    });
  const warnings = async (namespace: string, name: string, reason: string) =>
    (await kube.core.listNamespacedEvent({ namespace })).items.filter(
      (e) => e.involvedObject.name === name && e.type === 'Warning' && e.reason === reason,
    );

  const grantsOn = async (vaultId: string) =>
    (
      (await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/policies` })).json() as {
        policies: Array<{ principal_id: string; secret_path_pattern: string }>;
      }
    ).policies.map((p) => `${p.principal_id} ${p.secret_path_pattern}`);
  const putSecret = async (vaultId: string, path: string, value: string) => {
    const res = await api.request({
      method: 'PUT',
      url: `/v1/vaults/${vaultId}/secrets/${path}`,
      payload: { type: 'password', value },
    });
    expect(res.statusCode).toBe(200);
  };
  const readSecret = async (vaultId: string, path: string) => {
    const res = await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/secrets/${path}` });
    return res.statusCode === 200 ? (res.json() as { value: string }).value : res.statusCode;
  };
  const createApiVault = async (body: object): Promise<ApiVault> => {
    const res = await api.request({ method: 'POST', url: '/v1/vaults', payload: body });
    expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 201 });
    return res.json() as ApiVault;
  };

  /** A victim with a secret and a grant to its own `app` account, Ready. */
  const victim = async (namespace: string, name: string) => {
    await createVaultObject(namespace, name, {
      access: [{ serviceAccount: 'app', paths: ['db/*'], permissions: ['read'] }],
    });
    const id = (await waitReady(namespace, name)).status?.vaultId as string;
    await putSecret(id, 'db/password', `victim-value-${name}`);
    return id;
  };
  const thiefSpec: OneclawVault['spec'] = {
    deletionPolicy: 'Delete',
    access: [{ serviceAccount: 'thief', paths: ['**'], permissions: ['read', 'list'] }],
  };
  /** The victim's vault still has only its own grant, and its secret still decrypts. */
  const expectUntouched = async (namespace: string, victimId: string, name: string) => {
    expect(await grantsOn(victimId)).toEqual([`system:serviceaccount:${namespace}:app db/*`]);
    expect(await readSecret(victimId, 'db/password')).toBe(`victim-value-${name}`);
  };

  beforeAll(async () => {
    suite = await operatorSuite('own', ['app', 'thief'], {
      env: (k) => ({
        ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: [k.namespace, `${k.namespace}-prod`, `${k.namespace}-late`]
          .map((ns) => `system:serviceaccount:${ns}:${OPERATOR_ACCOUNT}`)
          .join(','),
      }),
    });
    ({ api, kube, kc, custom } = suite);
    nsA = kube.namespace;
    nsB = `${nsA}-prod`;
    nsLate = `${nsA}-late`;
    await createNamespace(nsB);
    await createNamespace(nsLate);
    await operatorFor(nsA);
    await operatorFor(nsB);
  });
  afterAll(async () => {
    for (const op of operators) await op.stop();
    for (const ns of [nsB, nsLate]) if (ns) await kube.core.deleteNamespace({ name: ns }).catch(() => {});
    await suite?.close();
  });

  it('gives `<ns>/prod-db` and `<ns>-prod/db` vaults of their own: no grant on, no purge of the other', async () => {
    const victimId = await victim(nsA, 'prod-db');
    await createVaultObject(nsB, 'db', thiefSpec);
    const thief = await waitReady(nsB, 'db');
    expect(thief.status?.vaultId).not.toBe(victimId);
    expect(vaultNameFor(nsA, 'prod-db')).not.toBe(vaultNameFor(nsB, 'db'));
    expect(vaultNameFor(nsA, 'prod-db').startsWith(`${nsA}-prod-db-`)).toBe(true);
    await expectUntouched(nsA, victimId, 'prod-db');

    await deleteAndWaitGone(nsB, 'db');
    await expectUntouched(nsA, victimId, 'prod-db');
  });

  it('gives `prod.db` and `prod-db` of one namespace vaults of their own', async () => {
    const victimId = await victim(nsB, 'billing-db');
    await createVaultObject(nsB, 'billing.db', thiefSpec);
    const thief = await waitReady(nsB, 'billing.db');
    expect(thief.status?.vaultId).not.toBe(victimId);
    await expectUntouched(nsB, victimId, 'billing-db');
    await deleteAndWaitGone(nsB, 'billing.db');
    await expectUntouched(nsB, victimId, 'billing-db');
  });

  it("never adopts an admin's vault of the derived name: VaultConflict, no grant, no purge", async () => {
    const adminVault = await createApiVault({ name: vaultNameFor(nsA, 'ledger') });
    await putSecret(adminVault.id, 'db/password', 'admin-value');
    await createVaultObject(nsA, 'ledger', thiefSpec);
    const o = await waitReason(nsA, 'ledger', Reason.VaultConflict);
    expect(ready(o)).toMatchObject({ status: 'False' });
    expect(ready(o)?.message).toContain(`a vault named ${vaultNameFor(nsA, 'ledger')} already exists`);
    expect(o.status?.vaultId).toBeUndefined();
    expect(await warnings(nsA, 'ledger', Reason.VaultConflict)).not.toHaveLength(0);
    expect(await grantsOn(adminVault.id)).toEqual([]);

    await deleteAndWaitGone(nsA, 'ledger');
    expect(await readSecret(adminVault.id, 'db/password')).toBe('admin-value');
    expect(await grantsOn(adminVault.id)).toEqual([]);
  });

  it('ignores a forged status.vaultId: grants stay on its own vault, status heals, a Warning says so', async () => {
    const victimId = await victim(nsA, 'payroll');
    await createVaultObject(nsB, 'forger', thiefSpec);
    const own = (await waitReady(nsB, 'forger')).status?.vaultId as string;

    // Forged until the operator has seen it: a reconcile already under way may still write the
    // status it computed before the forgery.
    const [warning] = await eventually('Warning', async () => {
      await forgeVaultId(nsB, 'forger', victimId);
      await touch(nsB, 'forger');
      await eventually(
        'status healed',
        async () => (await getVaultObject(nsB, 'forger')).status?.vaultId === own,
      );
      const w = await warnings(nsB, 'forger', Reason.VaultNotOwned);
      return w.length > 0 && w;
    });
    expect(warning?.message).toContain(
      `status.vaultId named vault ${victimId}, which this OneclawVault does not own`,
    );
    await expectUntouched(nsA, victimId, 'payroll');
    expect(await grantsOn(own)).toEqual([`system:serviceaccount:${nsB}:thief **`]);

    // Forged again just before deletion: the purge reaches its own vault only.
    await forgeVaultId(nsB, 'forger', victimId);
    await deleteAndWaitGone(nsB, 'forger');
    await expectUntouched(nsA, victimId, 'payroll');
    expect((await api.request({ method: 'GET', url: `/v1/vaults/${own}` })).statusCode).toBe(404);
  });

  it('finds the vault a crash created before the status write, and waits for an admin on an unowned one', async () => {
    // Objects made while no operator serves the namespace.
    const crashed = await createVaultObject(nsLate, 'crashed', {
      access: [{ serviceAccount: 'app', paths: ['app/*'], permissions: ['read'] }],
    });
    const preCreated = await createApiVault({
      name: vaultNameFor(nsLate, 'crashed'),
      owner: {
        kind: 'OneclawVault',
        api_version: `${GROUP}/${VERSION}`,
        namespace: nsLate,
        name: 'crashed',
        uid: crashed.metadata.uid,
      },
    });
    // An old operator's vault: no owner, named as it used to be, recorded in status.
    const legacy = await createApiVault({ name: `${nsLate}-legacy`.slice(0, 63) });
    await putSecret(legacy.id, 'app/key', 'legacy-value');
    const old = await createVaultObject(nsLate, 'legacy', {
      deletionPolicy: 'Delete',
      access: [{ serviceAccount: 'app', paths: ['app/*'], permissions: ['read'] }],
    });
    await forgeVaultId(nsLate, 'legacy', legacy.id);

    await operatorFor(nsLate);
    const recovered = await waitReady(nsLate, 'crashed');
    expect(recovered.status?.vaultId).toBe(preCreated.id);
    const all = (await api.request({ method: 'GET', url: '/v1/vaults' })).json() as { vaults: ApiVault[] };
    expect(all.vaults.filter((v) => v.owner?.uid === crashed.metadata.uid).map((v) => v.id)).toEqual([
      preCreated.id,
    ]);

    const waiting = await waitReason(nsLate, 'legacy', Reason.VaultNotOwned);
    expect(ready(waiting)?.status).toBe('False');
    expect(ready(waiting)?.message).toContain(
      `status.vaultId names vault ${legacy.id}, which records no owner`,
    );
    expect(waiting.status?.vaultId).toBe(legacy.id);
    expect(await grantsOn(legacy.id)).toEqual([]);
    expect(all.vaults.filter((v) => v.owner?.uid === old.metadata.uid)).toEqual([]);

    // The admin records the owner: from then on it is the resource's vault.
    const recorded = await api.request({
      method: 'PUT',
      url: `/v1/vaults/${legacy.id}/owner`,
      payload: {
        kind: 'OneclawVault',
        api_version: `${GROUP}/${VERSION}`,
        namespace: nsLate,
        name: 'legacy',
        uid: old.metadata.uid,
      },
    });
    expect(recorded.statusCode).toBe(200);
    await touch(nsLate, 'legacy');
    expect((await waitReady(nsLate, 'legacy')).status?.vaultId).toBe(legacy.id);
    expect(await grantsOn(legacy.id)).toEqual([`system:serviceaccount:${nsLate}:app app/*`]);
    expect(await readSecret(legacy.id, 'app/key')).toBe('legacy-value');
  });

  it('purges nothing on deletion when status names a vault the resource does not own', async () => {
    const unowned = await createApiVault({ name: `unowned-${randomUUID().slice(0, 8)}` });
    await putSecret(unowned.id, 'db/password', 'unowned-value');
    // A kmsKey the server lacks: no vault of its own is ever created, so only the forged id is left.
    await createVaultObject(nsA, 'leaver', { ...thiefSpec, kmsKey: 'local://not-configured' });
    await waitReason(nsA, 'leaver', Reason.InvalidSpec);
    await forgeVaultId(nsA, 'leaver', unowned.id);
    await touch(nsA, 'leaver');
    await waitReason(nsA, 'leaver', Reason.VaultNotOwned);
    expect(await grantsOn(unowned.id)).toEqual([]);

    await deleteAndWaitGone(nsA, 'leaver');
    expect(await readSecret(unowned.id, 'db/password')).toBe('unowned-value');
    expect(await grantsOn(unowned.id)).toEqual([]);
    expect((await warnings(nsA, 'leaver', Reason.VaultNotOwned)).map((e) => e.message)).toContain(
      `status.vaultId named vault ${unowned.id}, which this OneclawVault does not own: left as it is`,
    );
  });
});
