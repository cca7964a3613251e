// A grant deleted through the API directly (an admin's `oneclaw policy delete`, not an edit of
// the OneclawVault) reaches the SecretSyncs that read the vault through its change feed: they
// check again at once whether their service account may still read, rather than at their next
// hourly refresh.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../runtime/test-helpers.js';
import { type OperatorSuite, operatorSuite } from '../../test-helpers.js';

describe('SecretSync: a grant removed through the API', () => {
  let suite: OperatorSuite;
  let vaultId: string;

  beforeAll(async () => {
    suite = await operatorSuite('sync-grants', ['app']);
    await suite.startOperator();
    vaultId = await suite.createReadyVault('main', {
      access: [{ serviceAccount: 'app', paths: ['app/**'], permissions: ['read'] }],
    });
    await suite.put(vaultId, 'app/db/password', 'granted-value');
    await suite.createSync('db', {
      vaultRef: { name: 'main' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'password', path: 'app/db/password' }],
      refreshInterval: '1h',
    });
    await eventually('first sync', async () => (await suite.readSecret('db'))?.password === 'granted-value');
  });
  afterAll(async () => {
    await suite?.close();
  });

  it('turns the sync AccessDenied within seconds, keeping the Secret', async () => {
    const listed = await suite.api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/policies` });
    const grants = (listed.json() as { policies: Array<{ id: string; principal_id: string }> }).policies;
    const mine = grants.filter((g) => g.principal_id === suite.kube.username('app'));
    expect(mine).toHaveLength(1);
    const started = Date.now();
    const removed = await suite.api.request({
      method: 'DELETE',
      url: `/v1/vaults/${vaultId}/policies/${mine[0]?.id}`,
    });
    expect(removed.statusCode).toBe(204);
    await eventually(
      'AccessDenied',
      async () =>
        (await suite.getSync('db')).status?.conditions?.find((c) => c.type === 'Ready')?.reason ===
        'AccessDenied',
      15_000,
    );
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await suite.readSecret('db'))?.password).toBe('granted-value');
  });
});
