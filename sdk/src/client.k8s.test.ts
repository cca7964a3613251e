// The SDK's Kubernetes credentials against a real API and a real control plane (offline JWKS
// validation, as the operator would run it): the token source is asked on every exchange and
// only then, the principal is the service account, and a configured admin account manages vaults.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../test/support/api.js';
import { sharedPeer } from '../../test/support/fixtures.js';
import { type KubeIdentities, kubeIdentities } from '../../test/support/kube-identity.js';
import { createClient } from './client.js';
import { OneclawError } from './errors.js';

describe('SDK with Kubernetes service-account credentials', () => {
  let api: TestApi;
  let kube: KubeIdentities;
  let dir: string;

  beforeAll(async () => {
    const info = await sharedPeer('kube');
    kube = await kubeIdentities(info, 'sdkk8s');
    await kube.createServiceAccount('app');
    await kube.createServiceAccount('operator');
    dir = mkdtempSync(join(tmpdir(), 'oneclaw-sdk-k8s-'));
    writeFileSync(join(dir, 'token'), info.token, { mode: 0o600 });
    api = await startTestApi(
      {
        ONECLAW_AUTH_RATE_LIMIT: '0',
        ONECLAW_TOKEN_TTL_SECONDS: '2',
        ONECLAW_K8S_AUTH: 'jwks',
        ONECLAW_K8S_ISSUER: info.issuer,
        ONECLAW_K8S_CA_FILE: info.caFile,
        ONECLAW_K8S_TOKEN_FILE: join(dir, 'token'),
        ONECLAW_K8S_AUDIENCE: 'oneclaw',
        ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: kube.username('operator'),
      },
      { listen: true },
    );
  });
  afterAll(async () => {
    await api?.close();
    await kube?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const sourceFor = (name: string) => {
    const source = {
      calls: 0,
      kubernetesToken: async () => {
        source.calls++;
        return kube.mint(name, ['oneclaw']);
      },
    };
    return source;
  };

  it('exchanges a service-account token, and asks the source again on each refresh', async () => {
    const operatorSource = sourceFor('operator');
    const operator = createClient({
      baseUrl: api.server.url ?? '',
      credentials: { kubernetesToken: operatorSource.kubernetesToken },
    });
    const vault = await operator.vaults.create({ name: 'made-by-operator' });
    await operator.secrets.put(vault.id, 'apps/app/db', { type: 'password', value: 'sa-readable' });
    await operator.policies.create(vault.id, {
      principal_type: 'k8s_service_account',
      principal_id: kube.username('app'),
      secret_path_pattern: 'apps/app/*',
      permissions: ['read'],
    });
    expect(operatorSource.calls).toBe(1);

    const appSource = sourceFor('app');
    const app = createClient({
      baseUrl: api.server.url ?? '',
      credentials: { kubernetesToken: appSource.kubernetesToken },
    });
    expect((await app.secrets.get(vault.id, 'apps/app/db')).value).toBe('sa-readable');
    const denied = await app.vaults.create({ name: 'made-by-app' }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(OneclawError);
    expect(denied).toMatchObject({ status: 403, code: 'admin_required' });
    expect(appSource.calls).toBe(1);

    // The 2-second access token lapses: the next call exchanges a fresh service-account token.
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await app.secrets.get(vault.id, 'apps/app/db')).value).toBe('sa-readable');
    expect(appSource.calls).toBe(2);

    const audit = await operator.audit.list({ vault_id: vault.id, limit: 1000 });
    expect(audit.events.map((e) => e.actor)).toContain(kube.username('app'));
  });

  it('a token of the wrong audience is refused, and the refusal names no token', async () => {
    let minted = '';
    const c = createClient({
      baseUrl: api.server.url ?? '',
      credentials: {
        kubernetesToken: async () => {
          minted = await kube.mint('app', ['someone-else']);
          return minted;
        },
      },
    });
    const err = (await c.vaults.list().catch((e: unknown) => e)) as OneclawError;
    expect(err).toBeInstanceOf(OneclawError);
    expect(err.status).toBe(401);
    expect(`${err.message} ${err.stack}`).not.toContain(minted);
  });
});
