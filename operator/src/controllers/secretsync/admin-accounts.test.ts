// A SecretSync never borrows an org admin's identity. The syncs here are written by the cluster
// administrator, whom the admission policy lets name any account: the operator's own refusal is
// what is tested, as it would be on a cluster without the policy. An admin reads every vault, so
// without the refusal each of these syncs would copy the secret out.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../../../../test/support/api.js';
import type { KubeIdentities } from '../../../../test/support/kube-identity.js';
import { OPERATOR_ACCOUNT } from '../../../../test/support/operator.js';
import {
  API_VERSION,
  type Condition,
  GROUP,
  PLURAL_SYNCS,
  Reason,
  type SecretSync,
  VERSION,
} from '../../apis/v1alpha1/types.js';
import { eventually } from '../../runtime/test-helpers.js';
import { type OperatorSuite, operatorSuite } from '../../test-helpers.js';

describe('SecretSync: org-admin service accounts', () => {
  let suite: OperatorSuite;
  let api: TestApi;
  let kube: KubeIdentities;
  let custom: CustomObjectsApi;
  let ns: string;
  let vaultId: string;

  const crd = { group: GROUP, version: VERSION };
  const getSync = async (name: string) =>
    (await custom.getNamespacedCustomObject({
      ...crd,
      namespace: ns,
      plural: PLURAL_SYNCS,
      name,
    })) as SecretSync;
  const syncBody = (name: string, spec: Partial<SecretSync['spec']>) => ({
    apiVersion: API_VERSION,
    kind: 'SecretSync',
    metadata: { name, namespace: ns },
    spec: { vaultRef: { name: 'main' }, data: [{ secretKey: 'token', path: 'ops/root-token' }], ...spec },
  });
  const ready = (s: SecretSync): Condition | undefined =>
    s.status?.conditions?.find((c) => c.type === 'Ready');
  const secretExists = async (name: string) =>
    kube.core.readNamespacedSecret({ name, namespace: ns }).then(
      () => true,
      () => false,
    );
  const auditRows = async (actor: string) =>
    (
      await api.db.pool.query<{ action: string }>('SELECT action FROM audit_events WHERE actor = $1', [actor])
    ).rows.map((r) => r.action);
  const refused = (name: string) =>
    eventually(`${name} refused`, async () => {
      const s = await getSync(name);
      return ready(s)?.reason === Reason.AdminServiceAccount && s;
    });

  beforeAll(async () => {
    // The API makes both accounts admins; the operator is told of one only, as when its setting
    // lags behind the API's.
    suite = await operatorSuite('sync-admin', ['app', 'listed-admin', 'unlisted-admin'], {
      env: (k) => ({
        ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: [OPERATOR_ACCOUNT, 'listed-admin', 'unlisted-admin']
          .map(k.username)
          .join(','),
      }),
    });
    ({ api, kube, custom, ns } = suite);
    await suite.startOperator({ adminServiceAccounts: [kube.username('listed-admin')] });
    vaultId = await suite.createReadyVault('main', {
      access: [{ serviceAccount: 'app', paths: ['app/**'], permissions: ['read'] }],
    });
    for (const [path, value] of [
      ['ops/root-token', 'root-token-value'],
      ['app/key', 'app-key-value'],
    ]) {
      await suite.put(vaultId, path as string, value as string);
    }
  });
  afterAll(async () => {
    await suite?.close();
  });

  it.each([
    ["the operator's own account", OPERATOR_ACCOUNT],
    ['a configured admin account', 'listed-admin'],
  ])('refuses %s before minting a token for it', async (_what, account) => {
    const name = `as-${account}`;
    await custom.createNamespacedCustomObject({
      ...crd,
      namespace: ns,
      plural: PLURAL_SYNCS,
      body: syncBody(name, { serviceAccountName: account }),
    });
    const s = await refused(name);
    expect(ready(s)).toMatchObject({ status: 'False', message: expect.stringContaining('org admin') });
    expect(await secretExists(name)).toBe(false);
    const events = await kube.core.listNamespacedEvent({ namespace: ns });
    const event = events.items.find(
      (e) => e.involvedObject.name === name && e.reason === 'AdminServiceAccount',
    );
    expect(event?.type).toBe('Warning');
    expect(JSON.stringify(events.items)).not.toContain('root-token-value');
    if (account !== OPERATOR_ACCOUNT) expect(await auditRows(kube.username(account))).toEqual([]);
  });

  it('refuses an account the API made an admin although the operator was not told', async () => {
    await custom.createNamespacedCustomObject({
      ...crd,
      namespace: ns,
      plural: PLURAL_SYNCS,
      body: syncBody('as-unlisted', { serviceAccountName: 'unlisted-admin' }),
    });
    await refused('as-unlisted');
    expect(await secretExists('as-unlisted')).toBe(false);
    // Tokens were exchanged (that is how the operator learnt the role) and never used.
    const actions = await auditRows(kube.username('unlisted-admin'));
    expect(actions.length).toBeGreaterThan(0);
    expect(new Set(actions)).toEqual(new Set(['auth.k8s_token']));
  });

  it('deletes the Secret of a sync moved to an admin account when onAccessLoss is Delete', async () => {
    await custom.createNamespacedCustomObject({
      ...crd,
      namespace: ns,
      plural: PLURAL_SYNCS,
      body: syncBody('moved', {
        serviceAccountName: 'app',
        data: [{ secretKey: 'key', path: 'app/key' }],
        onAccessLoss: 'Delete',
      }),
    });
    await eventually('moved synced', () => secretExists('moved'));
    const before = await getSync('moved');
    await suite.replace({ ...before, spec: { ...before.spec, serviceAccountName: 'listed-admin' } });
    await refused('moved');
    expect(await secretExists('moved')).toBe(false);
  });
});
