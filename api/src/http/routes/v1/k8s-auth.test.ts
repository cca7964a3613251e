// POST /v1/auth/k8s-token in offline (JWKS) mode, against the real apiserver's OIDC discovery
// and keys, and on a server where Kubernetes authentication is off. TokenReview mode is
// exercised by the authorization matrix.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import { createVault, expectError, secretUrl, writeSecret } from '../../../../../test/support/api-helpers.js';
import { sharedPeer } from '../../../../../test/support/fixtures.js';
import { type KubeIdentities, kubeIdentities } from '../../../../../test/support/kube-identity.js';

describe('Kubernetes token exchange', () => {
  let api: TestApi;
  let off: TestApi;
  let kube: KubeIdentities;
  let dir: string;

  beforeAll(async () => {
    const info = await sharedPeer('kube');
    kube = await kubeIdentities(info, 'k8sauth');
    await kube.createServiceAccount('app');
    await kube.createServiceAccount('operator');
    // The apiserver serves its discovery document and keys only to authenticated callers.
    dir = mkdtempSync(join(tmpdir(), 'oneclaw-k8sauth-'));
    writeFileSync(join(dir, 'token'), info.token, { mode: 0o600 });
    api = await startTestApi({
      ONECLAW_K8S_AUTH: 'jwks',
      ONECLAW_K8S_ISSUER: info.issuer,
      ONECLAW_K8S_CA_FILE: info.caFile,
      ONECLAW_K8S_TOKEN_FILE: join(dir, 'token'),
      ONECLAW_K8S_AUDIENCE: 'vault.example',
      ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: kube.username('operator'),
    });
    off = await startTestApi();
  });
  afterAll(async () => {
    await api?.close();
    await off?.close();
    await kube?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const exchange = (server: TestApi, token: string) =>
    server.request({ method: 'POST', url: '/v1/auth/k8s-token', payload: { token }, token: null });

  it('verifies offline against the issuer keys and names the service account as the principal', async () => {
    const vaultId = (await createVault(api)).id;
    await writeSecret(api, vaultId, 'apps/app/db', 'sa-readable');
    const granted = await api.request({
      method: 'POST',
      url: `/v1/vaults/${vaultId}/policies`,
      payload: {
        principal_type: 'k8s_service_account',
        principal_id: kube.username('app'),
        secret_path_pattern: 'apps/app/*',
        permissions: ['read'],
      },
    });
    expect(granted.statusCode).toBe(201);

    const res = await exchange(api, await kube.mint('app', ['vault.example']));
    expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 200 });
    const body = res.json() as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    const read = await api.request({
      method: 'GET',
      url: secretUrl(vaultId, 'apps/app/db'),
      token: body.access_token,
    });
    expect({ status: read.statusCode, value: (read.json() as { value: string }).value }).toEqual({
      status: 200,
      value: 'sa-readable',
    });
    const audit = await api.db.pool.query(
      `SELECT 1 FROM audit_events WHERE action = 'auth.k8s_token' AND actor = $1 AND decision = 'allow'`,
      [kube.username('app')],
    );
    expect(audit.rowCount).toBe(1);
  });

  it('makes the configured service accounts org admins, and no others', async () => {
    const asAccount = async (name: string) =>
      ((await exchange(api, await kube.mint(name, ['vault.example']))).json() as { access_token: string })
        .access_token;
    const create = (token: string, name: string) =>
      api.request({ method: 'POST', url: '/v1/vaults', payload: { name }, token });
    expect((await create(await asAccount('operator'), 'made-by-operator')).statusCode).toBe(201);
    expectError(await create(await asAccount('app'), 'made-by-app'), 403, 'admin_required');
    const audit = await api.db.pool.query(`SELECT actor FROM audit_events WHERE action = 'vault.create'`);
    expect(audit.rows).toContainEqual({ actor: kube.username('operator') });
  });

  it('refuses a token minted for another audience, and garbage', async () => {
    expectError(await exchange(api, await kube.mint('app', ['oneclaw'])), 401, 'wrong_audience');
    expectError(await exchange(api, 'a.b.c'), 401, 'invalid_token');
  });

  it('answers 404 not_enabled where Kubernetes authentication is off', async () => {
    expectError(
      await exchange(off, await kube.mint('app', ['oneclaw'])),
      404,
      'not_enabled',
      'Kubernetes authentication is not enabled on this server',
    );
  });
});
