// `oneclaw login --kubernetes`: a workload logs in with its projected service-account token
// (minted here by the real TokenRequest API), reads what its account is granted, and renews its
// token from the token file, read anew (the kubelet rotates it), once the stored token is spent.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../test/support/api.js';
import { createVault, writeSecret } from '../../test/support/api-helpers.js';
import { runCli } from '../../test/support/cli-run.js';
import { sharedPeer } from '../../test/support/fixtures.js';
import { type KubeIdentities, kubeIdentities } from '../../test/support/kube-identity.js';

const AUDIENCE = 'oneclaw.login.test';
let api: TestApi;
let kube: KubeIdentities;
let dir: string;

beforeAll(async () => {
  const info = await sharedPeer('kube');
  kube = await kubeIdentities(info, 'cli-login');
  await kube.createServiceAccount('job');
  dir = mkdtempSync(join(tmpdir(), 'oneclaw-cli-k8s-'));
  writeFileSync(join(dir, 'reader-token'), info.token, { mode: 0o600 });
  api = await startTestApi(
    {
      ONECLAW_K8S_AUTH: 'jwks',
      ONECLAW_K8S_ISSUER: info.issuer,
      ONECLAW_K8S_CA_FILE: info.caFile,
      ONECLAW_K8S_TOKEN_FILE: join(dir, 'reader-token'),
      ONECLAW_K8S_AUDIENCE: AUDIENCE,
    },
    { listen: true },
  );
});
afterAll(async () => {
  await api?.close();
  await kube?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('oneclaw login --kubernetes', () => {
  it('logs in with a TokenRequest token, reads as the account, and renews from the file', async () => {
    const vault = await createVault(api);
    await writeSecret(api, vault.id, 'jobs/job/db', 'k8s-login-canary');
    const granted = await api.request({
      method: 'POST',
      url: `/v1/vaults/${vault.id}/policies`,
      payload: {
        principal_type: 'k8s_service_account',
        principal_id: kube.username('job'),
        secret_path_pattern: 'jobs/job/*',
        permissions: ['read'],
      },
    });
    expect(granted.statusCode).toBe(201);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${await kube.mint('job', [AUDIENCE])}\n`, { mode: 0o600 });
    const env = { ONECLAW_CONFIG_DIR: join(dir, 'config'), ONECLAW_API_URL: api.server.url as string };

    const login = await runCli(['login', '--kubernetes', '--token-file', tokenFile, '--output', 'json'], {
      env,
    });
    expect({ code: login.code, stderr: login.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(login.stdout)).toMatchObject({
      principal: `sa:${kube.namespace}:job`,
      kubernetes_token_file: tokenFile,
    });
    const stored = JSON.parse(readFileSync(join(dir, 'config', 'credentials.json'), 'utf8'));
    expect(stored).toMatchObject({ kubernetes_token_file: tokenFile });
    expect(stored.api_key).toBeUndefined();
    // The token file is a path to read, never copied into the credentials.
    expect(JSON.stringify(stored)).not.toContain(readFileSync(tokenFile, 'utf8').trim());

    const read = await runCli(['secret', 'get', vault.id, 'jobs/job/db'], { env });
    expect({ code: read.code, stdout: read.stdout.trim() }).toEqual({ code: 0, stdout: 'k8s-login-canary' });
    const denied = await runCli(['secret', 'put', vault.id, 'jobs/job/db'], { env, input: 'x' });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('code forbidden');

    // The stored token spent: the next command exchanges the file's current (rotated) token.
    writeFileSync(
      join(dir, 'config', 'credentials.json'),
      JSON.stringify({ ...stored, token_expires_at: new Date(Date.now() - 1_000).toISOString() }),
      { mode: 0o600 },
    );
    writeFileSync(tokenFile, await kube.mint('job', [AUDIENCE]), { mode: 0o600 });
    const again = await runCli(['secret', 'get', vault.id, 'jobs/job/db'], { env });
    expect({ code: again.code, stdout: again.stdout.trim() }).toEqual({
      code: 0,
      stdout: 'k8s-login-canary',
    });
    const renewed = JSON.parse(readFileSync(join(dir, 'config', 'credentials.json'), 'utf8'));
    expect(renewed.access_token).not.toBe(stored.access_token);
  });

  it('refuses a token for another audience, a missing file, and --token-file without --kubernetes', async () => {
    const env = { ONECLAW_CONFIG_DIR: join(dir, 'config-2'), ONECLAW_API_URL: api.server.url as string };
    const tokenFile = join(dir, 'other-audience');
    writeFileSync(tokenFile, await kube.mint('job', ['someone-else']), { mode: 0o600 });
    const wrong = await runCli(['login', '--kubernetes', '--token-file', tokenFile], { env });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/^oneclaw: .*wrong_audience/);
    const missing = await runCli(['login', '--kubernetes', '--token-file', join(dir, 'nope')], { env });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`cannot read the service-account token ${join(dir, 'nope')}: ENOENT`);
    const stray = await runCli(['login', '--token-file', tokenFile], { env });
    expect(stray.code).not.toBe(0);
    expect(stray.stderr).toContain('--token-file goes with --kubernetes');
  });
});
