import { execFileSync } from 'node:child_process';
import {
  ApiextensionsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { kubeConfigFor, sharedPeer, uniqueName } from '../support/fixtures.js';
import type { KubeInfo } from '../support/peers/kube.js';
import { tools } from '../support/tools.js';

/** The control plane's controllers act within seconds; poll gently for up to 30 s. */
const POLL = [30_000, 200] as const;

function jwtClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('Kubernetes control plane peer', () => {
  let info: KubeInfo;
  let kc: KubeConfig;
  let core: CoreV1Api;
  const ns = uniqueName('smoke');

  beforeAll(async () => {
    info = await sharedPeer('kube');
    kc = kubeConfigFor(info.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
  });

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });

  it('answers kubectl with the printed kubeconfig', () => {
    const out = execFileSync(tools.kubectl(), ['--kubeconfig', info.kubeconfig, 'get', 'ns', '-o', 'name'], {
      encoding: 'utf8',
    });
    expect(out.split('\n')).toContain('namespace/kube-system');
    expect(info.version).toMatch(/^v1\.3\d\./);
  });

  it('creates and reads back a Namespace, and the service-account controller fills it', async () => {
    await core.createNamespace({ body: { metadata: { name: ns, labels: { 'oneclaw.dev/test': 'smoke' } } } });
    const got = await core.readNamespace({ name: ns });
    expect(got.metadata?.labels?.['oneclaw.dev/test']).toBe('smoke');
    const sa = await eventually(
      'default ServiceAccount',
      () => core.readNamespacedServiceAccount({ name: 'default', namespace: ns }),
      ...POLL,
    );
    expect(sa.metadata?.namespace).toBe(ns);
  });

  it('mints an audience-bound ServiceAccount token with TokenRequest that TokenReview accepts', async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'workload' } } });
    const tr = await core.createNamespacedServiceAccountToken({
      name: 'workload',
      namespace: ns,
      body: { spec: { audiences: ['oneclaw'], expirationSeconds: 600 } },
    });
    const token = tr.status?.token ?? '';
    const claims = jwtClaims(token);
    expect(claims.sub).toBe(`system:serviceaccount:${ns}:workload`);
    expect(claims.aud).toEqual(['oneclaw']);
    expect(claims.iss).toBe(info.issuer);

    const authn = kc.makeApiClient(AuthenticationV1Api);
    const review = await authn.createTokenReview({ body: { spec: { token, audiences: ['oneclaw'] } } });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.user?.username).toBe(`system:serviceaccount:${ns}:workload`);
    const wrongAudience = await authn.createTokenReview({
      body: { spec: { token, audiences: ['someone-else'] } },
    });
    // false is omitted from the wire object; an unauthenticated review names why.
    expect(wrongAudience.status?.authenticated ?? false).toBe(false);
    expect(wrongAudience.status?.error).toBeTruthy();
  });

  it('serves a CRD with schema validation, and custom objects of it', async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    const group = `${uniqueName('smoke')}.test.oneclaw.dev`;
    const name = `widgets.${group}`;
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      required: ['size'],
                      properties: { size: { type: 'integer', minimum: 1 } },
                    },
                  },
                },
              },
            },
          ],
        },
      },
    });
    try {
      await eventually(
        'CRD Established',
        async () => {
          const crd = await ext.readCustomResourceDefinition({ name });
          return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
            ? true
            : undefined;
        },
        ...POLL,
      );
      const custom = kc.makeApiClient(CustomObjectsApi);
      const base = { group, version: 'v1', namespace: ns, plural: 'widgets' };
      const body = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } };
      await eventually(
        'custom object create',
        () => custom.createNamespacedCustomObject({ ...base, body }),
        ...POLL,
      );
      const read = (await custom.getNamespacedCustomObject({ ...base, name: 'w1' })) as {
        spec: { size: number };
      };
      expect(read.spec.size).toBe(3);
      await expect(
        custom.createNamespacedCustomObject({
          ...base,
          body: { ...body, metadata: { name: 'w2' }, spec: { size: 0 } },
        }),
      ).rejects.toThrow(/spec\.size/);
    } finally {
      await ext.deleteCustomResourceDefinition({ name });
    }
  });

  it('garbage-collects a dependent when its owner is deleted', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'owner' } },
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns });
    await eventually(
      'dependent ConfigMap collected',
      async () => {
        try {
          await core.readNamespacedConfigMap({ name: 'dependent', namespace: ns });
          return undefined;
        } catch (err) {
          return (err as { code?: number }).code === 404 ? true : undefined;
        }
      },
      ...POLL,
    );
  });
});
