// Two operator replicas and an API restart: exactly one replica reconciles; when it stops, the
// other takes over at once and keeps syncing; when the API goes away and comes back on the same
// address, the operator converges again with nothing deleted in between.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLocalSigningKeyPem } from '../../api/src/kms/backends/local-signer.js';
import { generateApiKey } from '../../api/src/services/auth/api-keys.js';
import { startTestApi, type TestApi } from '../../test/support/api.js';
import type { KubeIdentities } from '../../test/support/kube-identity.js';
import { operatorApiEnv, startTestOperator } from '../../test/support/operator.js';
import { freePort } from '../../test/support/ports.js';
import type { RunningOperator } from './operator.js';
import { eventually } from './runtime/test-helpers.js';
import { type OperatorSuite, operatorSuite } from './test-helpers.js';

describe('operator replicas and API restarts', () => {
  let suite: OperatorSuite;
  let kc: KubeConfig;
  let kube: KubeIdentities;
  let api: TestApi;
  let restarted: TestApi | undefined;
  let env: Record<string, string>;
  const replicas: RunningOperator[] = [];
  let keyDir: string;

  const secretValue = async (name: string) => (await suite.readSecret(name))?.value;
  const put = async (server: TestApi, vaultId: string, value: string) => {
    const res = await server.request({
      method: 'PUT',
      url: `/v1/vaults/${vaultId}/secrets/app/key`,
      payload: { type: 'api_key', value },
    });
    expect(res.statusCode).toBe(200);
  };
  const sync = (name: string) =>
    suite.createSync(name, {
      vaultRef: { name: 'v' },
      serviceAccountName: 'app',
      data: [{ secretKey: 'value', path: 'app/key' }],
    });

  beforeAll(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'oneclaw-opha-'));
    writeFileSync(join(keyDir, 'jwt.pem'), generateLocalSigningKeyPem(), { mode: 0o600 });
    const listen = `127.0.0.1:${await freePort()}`;
    suite = await operatorSuite('opha', ['app'], {
      env: (k, info) => {
        env = {
          ...operatorApiEnv(info, k),
          ONECLAW_LISTEN: listen,
          // The restarted API is the same installation: same keys, same admin.
          ONECLAW_LOCAL_MASTER_KEY: randomBytes(32).toString('base64'),
          ONECLAW_BOOTSTRAP_ADMIN_KEY: generateApiKey('user'),
          ONECLAW_SIGNING_KEY_FILE: join(keyDir, 'jwt.pem'),
        };
        return env;
      },
    });
    ({ kc, kube, api } = suite);
    for (const identity of ['replica-a', 'replica-b']) {
      replicas.push(await startTestOperator({ api, kube, kubeConfig: kc, identity, concurrency: 2 }));
    }
  });
  afterAll(async () => {
    for (const r of replicas) await r.stop();
    await restarted?.server.close();
    await api?.server.close().catch(() => {});
    await api?.db.drop();
    await kube?.cleanup();
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  let vaultId: string;

  it('exactly one replica leads and reconciles', async () => {
    vaultId = await suite.createReadyVault('v', {
      access: [{ serviceAccount: 'app', paths: ['app/*'], permissions: ['read'] }],
    });
    await put(api, vaultId, 'one');
    await sync('first');
    expect(await eventually('first synced', async () => (await secretValue('first')) === 'one' && 'ok')).toBe(
      'ok',
    );
    expect(replicas.filter((r) => r.isLeader())).toHaveLength(1);
    // Only one vault was created, although two replicas saw the OneclawVault.
    const vaults = (await api.request({ method: 'GET', url: '/v1/vaults' })).json() as { vaults: unknown[] };
    expect(vaults.vaults).toHaveLength(1);
  });

  it('fails over at once when the leader stops, and the new leader keeps syncing', async () => {
    const leader = replicas.find((r) => r.isLeader()) as RunningOperator;
    const follower = replicas.find((r) => r !== leader) as RunningOperator;
    const t0 = Date.now();
    await leader.stop();
    replicas.splice(replicas.indexOf(leader), 1);
    await eventually('new leader', async () => follower.isLeader());
    expect(Date.now() - t0).toBeLessThan(3_000);
    await put(api, vaultId, 'two');
    await eventually('pushed by the new leader', async () => (await secretValue('first')) === 'two');
  });

  it('survives an API restart on the same address, deleting nothing, and converges after', async () => {
    await api.server.close();
    // While the API is down the Secret stays as it was, and new syncs wait.
    await sync('second');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await secretValue('first')).toBe('two');
    restarted = await startTestApi(env, { listen: true, db: api.db });
    await put(restarted, vaultId, 'three');
    await eventually('first converged', async () => (await secretValue('first')) === 'three', 45_000);
    await eventually('second synced', async () => (await secretValue('second')) === 'three', 45_000);
  });
});
