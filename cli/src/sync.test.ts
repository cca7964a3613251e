// `oneclaw sync refresh` as a user runs it: against the cluster of KUBECONFIG, it sets the
// SecretSync's refresh annotation to a new value each time, and fails clearly when the object
// does not exist or the reference is malformed.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  GROUP,
  PLURAL_SYNCS,
  REFRESH_ANNOTATION,
  type SecretSync,
  VERSION,
} from '../../operator/src/apis/v1alpha1/types.js';
import { runCli } from '../../test/support/cli-run.js';
import { installCrds } from '../../test/support/crds.js';
import { kubeConfigFor, sharedPeer } from '../../test/support/fixtures.js';
import { type KubeIdentities, kubeIdentities } from '../../test/support/kube-identity.js';
import type { KubeInfo } from '../../test/support/peers/kube.js';

describe('oneclaw sync refresh', () => {
  let info: KubeInfo;
  let kube: KubeIdentities;
  let custom: CustomObjectsApi;
  const crd = () => ({ group: GROUP, version: VERSION, namespace: kube.namespace, plural: PLURAL_SYNCS });
  const annotation = async () =>
    ((await custom.getNamespacedCustomObject({ ...crd(), name: 'db' })) as SecretSync).metadata.annotations?.[
      REFRESH_ANNOTATION
    ];
  const refresh = (...args: string[]) =>
    runCli(['sync', 'refresh', ...args], { env: { KUBECONFIG: info.kubeconfig } });

  beforeAll(async () => {
    info = await sharedPeer('kube');
    await installCrds(info);
    kube = await kubeIdentities(info, 'cli-sync');
    custom = kubeConfigFor(info.kubeconfig).makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      ...crd(),
      body: {
        apiVersion: API_VERSION,
        kind: 'SecretSync',
        metadata: { name: 'db', namespace: kube.namespace },
        spec: {
          vaultRef: { name: 'main' },
          serviceAccountName: 'app',
          data: [{ secretKey: 'k', path: 'app/k' }],
        },
      },
    });
  });
  afterAll(async () => {
    await kube?.cleanup();
  });

  it('sets the refresh annotation to a new value each time, changing nothing else', async () => {
    const before = (await custom.getNamespacedCustomObject({ ...crd(), name: 'db' })) as SecretSync;
    expect(before.metadata.annotations?.[REFRESH_ANNOTATION]).toBeUndefined();
    const first = await refresh(`${kube.namespace}/db`);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const value = await annotation();
    expect(Number.isNaN(Date.parse(value ?? ''))).toBe(false);
    expect(first.stdout).toContain(`SecretSync ${kube.namespace}/db`);

    const second = await refresh(`${kube.namespace}/db`, '-o', 'json');
    expect(second.code).toBe(0);
    const printed = JSON.parse(second.stdout) as { namespace: string; name: string; requestedAt: string };
    expect(printed).toEqual({ namespace: kube.namespace, name: 'db', requestedAt: await annotation() });
    expect(printed.requestedAt).not.toBe(value);
    const after = (await custom.getNamespacedCustomObject({ ...crd(), name: 'db' })) as SecretSync;
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec).toEqual(before.spec);
  });

  it('fails with exit code 5 when the SecretSync does not exist, 2 on a malformed reference', async () => {
    const missing = await refresh(`${kube.namespace}/nope`);
    expect(missing.code).toBe(5);
    expect(missing.stderr.trim()).toBe(`oneclaw: SecretSync ${kube.namespace}/nope not found`);
    const malformed = await refresh('a/b/c');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('expected <namespace>/<name>');
  });
});
