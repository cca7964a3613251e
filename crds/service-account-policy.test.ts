// The SecretSync admission policy (secretsync-service-account-policy.yaml) on the real apiserver,
// with real RBAC: users bound to Roles in a namespace of this suite, acting through `kubectl
// --as` (the admin impersonates them, and the apiserver authorizes and admits the request as
// the impersonated user). A SecretSync reads as its service account, so only someone who could
// already act as that account may name it.
import { execFile } from 'node:child_process';
import { type KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../test/support/crds.js';
import { eventually } from '../test/support/eventually.js';
import { kubeConfigFor, sharedPeer } from '../test/support/fixtures.js';
import { type KubeIdentities, kubeIdentities } from '../test/support/kube-identity.js';
import type { KubeInfo } from '../test/support/peers/kube.js';
import { tools } from '../test/support/tools.js';

/** What every author here may do with SecretSyncs; the users differ only in what else they may do. */
const AUTHOR: V1PolicyRule = {
  apiGroups: ['oneclaw.dev'],
  resources: ['secretsyncs'],
  verbs: ['get', 'create', 'update', 'patch'],
};

describe('SecretSync admission policy', () => {
  let info: KubeInfo;
  let kube: KubeIdentities;
  let kc: KubeConfig;
  let ns: string;

  /** `kubectl apply` of a SecretSync as `user`: the apiserver's answer (stderr on refusal). */
  const apply = async (user: string, name: string, serviceAccountName: string) => {
    const manifest = JSON.stringify({
      apiVersion: 'oneclaw.dev/v1alpha1',
      kind: 'SecretSync',
      metadata: { name, namespace: ns },
      spec: { vaultRef: { name: 'main' }, serviceAccountName, data: [{ secretKey: 'k', path: 'app/k' }] },
    });
    return kubectl(['--as', user, 'apply', '-f', '-'], manifest);
  };
  const kubectl = (args: string[], input?: string) =>
    new Promise<{ ok: boolean; out: string }>((resolve) => {
      const child = execFile(
        tools.kubectl(),
        ['--kubeconfig', info.kubeconfig, '-n', ns, ...args],
        (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}` }),
      );
      child.stdin?.end(input ?? '');
    });
  const exists = async (name: string) => (await kubectl(['get', 'secretsync', name, '-o', 'name'])).ok;

  const grant = async (user: string, rules: V1PolicyRule[]) => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: user }, rules } });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: user },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: user },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    });
  };

  beforeAll(async () => {
    info = await sharedPeer('kube');
    await installCrds(info);
    kc = kubeConfigFor(info.kubeconfig);
    kube = await kubeIdentities(info, 'sync-policy');
    ns = kube.namespace;
    for (const sa of ['app', 'privileged']) await kube.createServiceAccount(sa);
    await grant('author', [AUTHOR]);
    await grant('deployer', [AUTHOR, { apiGroups: [''], resources: ['pods'], verbs: ['create'] }]);
    await grant('token-minter', [
      AUTHOR,
      { apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['app'], verbs: ['create'] },
    ]);
    await grant('impersonator', [
      AUTHOR,
      { apiGroups: [''], resources: ['serviceaccounts'], resourceNames: ['app'], verbs: ['impersonate'] },
    ]);
    await grant(kube.username('app'), [AUTHOR]);
    await grant('status-writer', [
      { apiGroups: ['oneclaw.dev'], resources: ['secretsyncs/status'], verbs: ['get', 'patch'] },
    ]);
    // A new policy takes a moment to reach the apiserver's admission: wait for its first refusal.
    await eventually(
      'the policy in effect',
      async () => {
        const res = await apply('author', 'probe', 'app');
        if (res.ok) await kubectl(['delete', 'secretsync', 'probe']);
        return !res.ok && res.out.includes('may not act as that account');
      },
      30_000,
      250,
    );
  });
  afterAll(async () => {
    await kube?.cleanup();
  });

  it('refuses an author who could not act as the account, saying what would allow it', async () => {
    const res = await apply('author', 'plain', 'app');
    expect(res.ok).toBe(false);
    expect(res.out).toContain(
      'SecretSync plain reads secrets as service account app, and author may not act as that account',
    );
    expect(res.out).toContain(
      `create on pods in namespace ${ns}, create on serviceaccounts/token for app, or impersonate on it`,
    );
    expect(await exists('plain')).toBe(false);
  });

  it('allows an author who may create pods in the namespace, for any of its accounts', async () => {
    expect(await apply('deployer', 'by-deployer', 'privileged')).toMatchObject({ ok: true });
    expect(await exists('by-deployer')).toBe(true);
  });

  it('allows an author who may create tokens for that account, and only that account', async () => {
    expect(await apply('token-minter', 'by-minter', 'app')).toMatchObject({ ok: true });
    expect((await apply('token-minter', 'by-minter-2', 'privileged')).ok).toBe(false);
  });

  it('allows an author who may impersonate that account, and only that account', async () => {
    expect(await apply('impersonator', 'by-impersonator', 'app')).toMatchObject({ ok: true });
    expect((await apply('impersonator', 'by-impersonator-2', 'privileged')).ok).toBe(false);
  });

  it('allows a service account to name itself, and only itself', async () => {
    const self = kube.username('app');
    expect(await apply(self, 'by-itself', 'app')).toMatchObject({ ok: true });
    expect((await apply(self, 'by-itself-2', 'privileged')).ok).toBe(false);
  });

  it('refuses an update that moves a sync to an account its author could not act as', async () => {
    const res = await apply('token-minter', 'by-minter', 'privileged');
    expect(res.ok).toBe(false);
    expect(res.out).toContain('token-minter may not act as that account');
    const sa = await kubectl(['get', 'secretsync', 'by-minter', '-o', 'jsonpath={.spec.serviceAccountName}']);
    expect(sa.out).toBe('app');
  });

  it('leaves metadata-only updates and status writes alone', async () => {
    // by-deployer names `privileged`, which `author` could not name: its spec is untouched here.
    const label = await kubectl(['--as', 'author', 'label', 'secretsync', 'by-deployer', 'team=payments']);
    expect(label).toMatchObject({ ok: true });
    const status = await kubectl([
      '--as',
      'status-writer',
      'patch',
      'secretsync',
      'by-deployer',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"targetName":"by-deployer"}}',
    ]);
    expect(status).toMatchObject({ ok: true });
  });
});
