// The CRDs against the real apiserver: they install, default, validate with the messages they
// promise, serve status as a subresource, explain themselves, print their columns, answer to the
// `oneclaw` category, accept the examples, and match the TypeScript types field for field.
//
// The CRDs are cluster-scoped and shared by every test file of the run: they are applied
// idempotently (create, or replace when present) and never deleted; only this suite's namespace is.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadAllYaml,
  loadYaml,
  type V1CustomResourceDefinition,
  type V1JSONSchemaProps,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  CATEGORY,
  GROUP,
  KIND_SYNC,
  KIND_VAULT,
  type OneclawVault,
  type OneclawVaultSpec,
  type OneclawVaultStatus,
  PLURAL_SYNCS,
  PLURAL_VAULTS,
  Reason,
  type SecretSync,
  type SecretSyncSpec,
  type SecretSyncStatus,
  VERSION,
} from '../operator/src/apis/v1alpha1/types.js';
import { eventually } from '../test/support/eventually.js';
import { kubeConfigFor, sharedPeer, uniqueName } from '../test/support/fixtures.js';
import type { KubeInfo } from '../test/support/peers/kube.js';
import { repoRoot, tools } from '../test/support/tools.js';

const run = promisify(execFile);
const CRD_FILES = ['oneclaw.dev_oneclawvaults.yaml', 'oneclaw.dev_secretsyncs.yaml'];

function readCrd(file: string): V1CustomResourceDefinition {
  return loadYaml<V1CustomResourceDefinition>(readFileSync(join(repoRoot, 'crds', file), 'utf8'));
}

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/** Create the CRD, or replace it when present; other test files race to do the same. */
async function applyCrd(ext: ApiextensionsV1Api, crd: V1CustomResourceDefinition): Promise<void> {
  const name = crd.metadata?.name ?? '';
  for (let attempt = 0; ; attempt++) {
    try {
      const current = await ext.readCustomResourceDefinition({ name });
      await ext.replaceCustomResourceDefinition({
        name,
        body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } },
      });
      break;
    } catch (err) {
      if (statusCode(err) === 404) {
        try {
          await ext.createCustomResourceDefinition({ body: crd });
          break;
        } catch (createErr) {
          if (statusCode(createErr) !== 409 || attempt > 10) throw createErr;
          continue;
        }
      }
      if (statusCode(err) !== 409 || attempt > 10) throw err;
    }
  }
  await eventually(
    `CRD ${name} Established`,
    async () => {
      const got = await ext.readCustomResourceDefinition({ name });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    },
    30_000,
  );
}

/** The apiserver's refusal message (a 422 Status), for asserting on the text a user sees. */
async function refusal(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (err) {
    const body = (err as { body?: unknown }).body;
    let message = typeof body === 'string' ? body : JSON.stringify(body);
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch {}
    expect(statusCode(err), message).toBe(422);
    return message;
  }
  throw new Error('the apiserver accepted what it should have refused');
}

/** Every property path a structural schema declares (maps and arrays as `*` and `[]`). */
function schemaPaths(schema: V1JSONSchemaProps, prefix: string): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}.${key}`;
    out.push(path, ...schemaPaths(child, path));
    if (child.items && !Array.isArray(child.items)) {
      out.push(...schemaPaths(child.items as V1JSONSchemaProps, `${path}[]`));
    }
  }
  return out;
}

/** The same paths, as present in a value. */
function valuePaths(value: unknown, prefix: string): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) {
      for (const item of v) walk(item, `${path}[]`);
    } else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        out.add(`${path}.${k}`);
        walk(child, `${path}.${k}`);
      }
    }
  };
  walk(value, prefix);
  return out;
}

// Every optional field present, so excess-property checks and these types together say the
// examples below cover the TypeScript types completely.
type DeepRequired<T> = T extends (infer U)[]
  ? DeepRequired<U>[]
  : T extends object
    ? { [K in keyof T]-?: DeepRequired<T[K]> }
    : T;

const now = () => new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');

describe('oneclaw CRDs on a real apiserver', () => {
  let info: KubeInfo;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let kubectlCache: string;
  const ns = uniqueName('crds');
  const vaults = () => ({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL_VAULTS });
  const syncs = () => ({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL_SYNCS });

  const createVault = (name: string, spec: unknown) =>
    custom.createNamespacedCustomObject({
      ...vaults(),
      fieldValidation: 'Strict',
      body: { apiVersion: API_VERSION, kind: KIND_VAULT, metadata: { name }, spec },
    }) as Promise<OneclawVault>;
  const createSync = (name: string, spec: unknown) =>
    custom.createNamespacedCustomObject({
      ...syncs(),
      fieldValidation: 'Strict',
      body: { apiVersion: API_VERSION, kind: KIND_SYNC, metadata: { name }, spec },
    }) as Promise<SecretSync>;
  const readVault = (name: string) =>
    custom.getNamespacedCustomObject({ ...vaults(), name }) as Promise<OneclawVault>;
  const updateVaultSpec = async (name: string, change: (spec: OneclawVaultSpec) => void) => {
    const current = await readVault(name);
    change(current.spec);
    return custom.replaceNamespacedCustomObject({ ...vaults(), name, body: current });
  };
  const kubectl = async (...args: string[]) =>
    (
      await run(tools.kubectl(), ['--kubeconfig', info.kubeconfig, '--cache-dir', kubectlCache, ...args], {
        encoding: 'utf8',
      })
    ).stdout;

  const syncSpec = (over: Partial<SecretSyncSpec> = {}): SecretSyncSpec => ({
    vaultRef: { name: 'main' },
    serviceAccountName: 'web',
    data: [{ secretKey: 'password', path: 'web/db/password' }],
    ...over,
  });

  /** Why the apiserver refuses a SecretSync that differs from a valid one by `over`. */
  const refusedSync = (name: string, over: Partial<SecretSyncSpec>) =>
    refusal(createSync(name, syncSpec(over)));

  beforeAll(async () => {
    info = await sharedPeer('kube');
    kc = kubeConfigFor(info.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    kubectlCache = mkdtempSync(join(tmpdir(), 'oneclaw-kubectl-cache-'));
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    await Promise.all([
      ...CRD_FILES.map((f) => applyCrd(ext, readCrd(f))),
      core.createNamespace({ body: { metadata: { name: ns } } }),
    ]);
    // Established can precede the first successful create by a moment.
    await eventually(
      'custom objects served',
      () => custom.listNamespacedCustomObject({ ...vaults() }),
      30_000,
    );
  });

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });

  describe('OneclawVault', () => {
    it('accepts a minimal vault and applies the defaults', async () => {
      const v = await createVault('minimal', {});
      expect(v.spec).toEqual({ custody: 'wrapped', deletionPolicy: 'Retain' });
    });

    it('accepts every KMS scheme and the grammar of path globs', async () => {
      const keys = [
        'local://dev',
        'transit://transit/oneclaw',
        'awskms://alias/oneclaw?region=eu-west-1',
        'awskms://arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        'gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k',
        'pkcs11://oneclaw/kek?module=/usr/lib/softhsm/libsofthsm2.so',
      ];
      await Promise.all(
        keys.map((kmsKey, i) =>
          createVault(`kms-${i}`, {
            kmsKey,
            access: [
              {
                serviceAccount: 'web.v2',
                paths: [
                  'app',
                  'app/*',
                  'app/**',
                  '**',
                  '*',
                  '**/password',
                  'app/db-*/x',
                  '*a*b*',
                  'A_b-9/**/c',
                ],
                permissions: ['read', 'list', 'write', 'delete'],
                expiresAt: '2030-01-01T00:00:00Z',
              },
            ],
          }),
        ),
      );
    });

    it('refuses a KMS key URI of an unknown scheme, with its message', async () => {
      for (const kmsKey of ['vault://x', 'local:x', 'local://', 'local://a b', 'LOCAL://x']) {
        const msg = await refusal(createVault('bad-kms', { kmsKey }));
        expect(msg).toContain('spec.kmsKey');
        expect(msg).toContain(
          'kmsKey must be a KMS key URI with scheme local://, transit://, awskms://, gcpkms:// or pkcs11:// and no spaces',
        );
      }
    });

    it('refuses bad access entries: permission, empty paths, bad globs, bad names, duplicates', async () => {
      const entry = { serviceAccount: 'web', paths: ['app/**'], permissions: ['read'] };
      const refuse = (access: unknown[]) => refusal(createVault('bad-access', { access }));

      const perm = await refuse([{ ...entry, permissions: ['read', 'admin'] }]);
      expect(perm).toContain('spec.access[0].permissions[1]: Unsupported value: "admin"');
      expect(perm).toContain('supported values: "read", "list", "write", "delete"');

      expect(await refuse([{ ...entry, paths: [] }])).toContain(
        'spec.access[0].paths: Invalid value: 0: spec.access[0].paths in body should have at least 1 items',
      );
      expect(await refuse([{ ...entry, permissions: [] }])).toContain(
        'spec.access[0].permissions in body should have at least 1 items',
      );
      expect(await refuse([{ ...entry, permissions: ['read', 'read'] }])).toContain(
        'spec.access[0].permissions[1]: Duplicate value: "read"',
      );

      for (const glob of [
        '/app',
        'app/',
        'app//x',
        'a**',
        'app/***',
        'app/**x',
        'app/x y',
        'app/$x',
        'ä',
        '',
      ]) {
        const msg = await refuse([{ ...entry, paths: ['ok/*', glob] }]);
        expect(msg, glob).toContain('spec.access[0].paths[1]');
        expect(msg, glob).toContain(
          "paths must be globs of '/'-separated segments of A-Z a-z 0-9 _ - and '*', with '**' only as a whole segment",
        );
      }

      for (const serviceAccount of ['Web', 'web_app', '-web', 'web-', 'system:serviceaccount:ns:web']) {
        expect(await refuse([{ ...entry, serviceAccount }])).toContain(
          `spec.access[0].serviceAccount: Invalid value: "${serviceAccount}": serviceAccount must be a ServiceAccount name`,
        );
      }

      const dup = await refuse([entry, { ...entry, paths: ['other/*'] }]);
      expect(dup).toContain(
        'each serviceAccount may appear in access only once; list all of its paths and permissions in one entry',
      );

      expect(await refuse([{ ...entry, expiresAt: 'next tuesday' }])).toContain(
        'spec.access[0].expiresAt in body must be of type date-time',
      );
      expect(
        await refuse(Array.from({ length: 101 }, (_, i) => ({ ...entry, serviceAccount: `sa-${i}` }))),
      ).toContain('must have at most 100 items');
    });

    it('refuses unknown enum values for custody and deletionPolicy', async () => {
      expect(await refusal(createVault('bad-custody', { custody: 'hsm' }))).toContain(
        'spec.custody: Unsupported value: "hsm": supported values: "wrapped", "kms"',
      );
      expect(await refusal(createVault('bad-policy', { deletionPolicy: 'Purge' }))).toContain(
        'spec.deletionPolicy: Unsupported value: "Purge": supported values: "Retain", "Delete"',
      );
      expect(await refusal(createVault('bad-name', { displayName: 'x'.repeat(64) }))).toContain(
        'spec.displayName: Too long: may not be more than 63 bytes',
      );
    });

    it('keeps kmsKey and custody immutable, and lets the rest change', async () => {
      await createVault('pinned', { kmsKey: 'local://one', custody: 'kms' });
      await createVault('unpinned', {});
      const kmsMessage =
        'kmsKey is immutable: it is fixed when the vault is created and cannot be added, changed or removed afterwards';

      for (const [name, change] of [
        [
          'pinned',
          (s: OneclawVaultSpec) => {
            s.kmsKey = 'local://two';
          },
        ],
        [
          'pinned',
          (s: OneclawVaultSpec) => {
            delete s.kmsKey;
          },
        ],
        [
          'unpinned',
          (s: OneclawVaultSpec) => {
            s.kmsKey = 'local://one';
          },
        ],
      ] as const) {
        const msg = await refusal(updateVaultSpec(name, change));
        expect(msg).toContain('spec.kmsKey');
        expect(msg).toContain(kmsMessage);
      }
      const custody = await refusal(
        updateVaultSpec('pinned', (s) => {
          s.custody = 'wrapped';
        }),
      );
      expect(custody).toContain(
        'spec.custody: Invalid value: "wrapped": custody is immutable: a vault keeps the custody mode it was created with',
      );

      await updateVaultSpec('pinned', (s) => {
        s.displayName = 'renamed';
        s.deletionPolicy = 'Delete';
        s.access = [{ serviceAccount: 'web', paths: ['app/**'], permissions: ['read'] }];
      });
      const after = await readVault('pinned');
      expect(after.spec).toMatchObject({
        kmsKey: 'local://one',
        custody: 'kms',
        displayName: 'renamed',
        deletionPolicy: 'Delete',
      });
    });
  });

  describe('SecretSync', () => {
    it('accepts data alone and dataFrom alone, and applies the defaults', async () => {
      const a = await createSync('data-only', syncSpec());
      expect(a.spec.target).toEqual({ type: 'Opaque' });
      expect(a.spec.onAccessLoss).toBe('Retain');
      expect(a.spec.refreshInterval).toBe('1h');
      const b = await createSync(
        'data-from-only',
        syncSpec({ data: undefined, dataFrom: [{ path: 'web/**' }] }),
      );
      expect(b.spec.dataFrom).toEqual([{ path: 'web/**' }]);
      const c = await createSync('named-target', syncSpec({ target: { name: 'web-creds' } }));
      expect(c.spec.target).toEqual({ name: 'web-creds', type: 'Opaque' });
    });

    it('accepts refresh intervals in hours, minutes and seconds from 10s', async () => {
      await Promise.all(
        ['10s', '90s', '30m', '1h', '1h30m', '2h0m5s', '168h'].map((refreshInterval, i) =>
          createSync(`refresh-${i}`, syncSpec({ refreshInterval })),
        ),
      );
    });

    it('accepts templates of {{ .KEY }} placeholders, across lines and with literal braces', async () => {
      const template = {
        data: {
          DATABASE_URL: 'postgres://{{ .username }}:{{.password}}@db:5432/app',
          'config.json': '{"token": "{{ .api.token }}", "nested": {"a": 1}}\n{ } }} {\n',
          'plain.txt': 'no placeholders at all',
        },
      };
      const s = await createSync('templated', syncSpec({ target: { template } }));
      expect(s.spec.target?.template).toEqual(template);
    });

    it('refuses a SecretSync that lists nothing to sync, with its message', async () => {
      const message = 'a SecretSync must list at least one secret in data or one path glob in dataFrom';
      for (const over of [{ data: undefined }, { data: [] }, { data: [], dataFrom: [] }]) {
        expect(await refusedSync('empty', over)).toContain(message);
      }
    });

    it('refuses bad Secret keys and bad secret paths, with their messages', async () => {
      for (const secretKey of ['my key', '.', '..', '..x', 'a/b', 'ключ', 'x'.repeat(254)]) {
        const msg = await refusedSync('bad-key', { data: [{ secretKey, path: 'a/b' }] });
        expect(msg, secretKey).toContain('spec.data[0].secretKey');
        if (secretKey.length <= 253) {
          expect(msg, secretKey).toContain(
            "secretKey must be a valid Secret data key: characters A-Z a-z 0-9 - _ . only, not '.' and not starting with '..'",
          );
        }
      }
      for (const path of ['/app/x', 'app/x/', 'app//x', 'app/*', 'app/**', 'app/x y', 'app.x', '']) {
        const msg = await refusedSync('bad-path', { data: [{ secretKey: 'k', path }] });
        expect(msg, path).toContain('spec.data[0].path');
        expect(msg, path).toContain(
          "path must be a secret path: '/'-separated segments of A-Z a-z 0-9 _ - with no leading, trailing or empty segment",
        );
      }
      for (const path of ['/app/*', 'app/**x', 'app//*']) {
        expect(await refusedSync('bad-glob', { dataFrom: [{ path }] })).toContain(
          "dataFrom path must be a glob of '/'-separated segments of A-Z a-z 0-9 _ - and '*'",
        );
      }
      expect(
        await refusedSync('bad-version', { data: [{ secretKey: 'k', path: 'a', version: 0 }] }),
      ).toContain('spec.data[0].version in body should be greater than or equal to 1');
      expect(
        await refusedSync('dup-key', {
          data: [
            { secretKey: 'k', path: 'a' },
            { secretKey: 'k', path: 'b' },
          ],
        }),
      ).toContain('spec.data[1]: Duplicate value: {"secretKey":"k"}');
    });

    it('refuses bad refresh intervals, with the message', async () => {
      for (const refreshInterval of ['1d', '5s', '9s', '0s', 'soon', '1.5h', '30m1h', '', '-1h', '1h ']) {
        const msg = await refusedSync('bad-refresh', { refreshInterval });
        expect(msg, refreshInterval).toContain('spec.refreshInterval');
        expect(msg, refreshInterval).toContain(
          'refreshInterval must be a duration in hours, minutes and seconds such as 1h, 30m, 90s or 1h30m, and at least 10s',
        );
      }
    });

    it('refuses bad rollout restart targets', async () => {
      const kind = await refusal(
        createSync('bad-restart', {
          ...syncSpec(),
          rolloutRestartTargets: [{ kind: 'CronJob', name: 'nightly' }],
        }),
      );
      expect(kind).toContain(
        'spec.rolloutRestartTargets[0].kind: Unsupported value: "CronJob": supported values: "Deployment", "StatefulSet", "DaemonSet"',
      );
      expect(
        await refusedSync('bad-restart', { rolloutRestartTargets: [{ kind: 'Deployment', name: 'Web_1' }] }),
      ).toContain('rolloutRestartTargets name must be a workload name');
      expect(
        await refusedSync('dup-restart', {
          rolloutRestartTargets: [
            { kind: 'Deployment', name: 'web' },
            { kind: 'Deployment', name: 'web' },
          ],
        }),
      ).toContain('spec.rolloutRestartTargets[1]: Duplicate value');
    });

    it('refuses bad references, targets and templates', async () => {
      expect(await refusal(createSync('no-sa', { vaultRef: { name: 'main' }, data: [] }))).toContain(
        'spec.serviceAccountName: Required value',
      );
      expect(await refusedSync('bad-sa', { serviceAccountName: 'Web' })).toContain(
        'serviceAccountName must be a ServiceAccount name',
      );
      expect(await refusedSync('bad-ref', { vaultRef: { name: 'other/ns' } })).toContain(
        'vaultRef.name must be a OneclawVault name',
      );
      expect(await refusedSync('bad-target', { target: { name: 'Web Creds' } })).toContain(
        'target.name must be a Secret name',
      );
      expect(
        await refusedSync('sa-token', { target: { type: 'kubernetes.io/service-account-token' } }),
      ).toContain('target.type cannot be kubernetes.io/service-account-token');
      for (const key of ['app.kubernetes.io/managed-by', 'oneclaw.dev/secretsync']) {
        expect(await refusedSync('own-label', { target: { labels: { [key]: 'mine' } } })).toContain(
          'target.labels cannot set app.kubernetes.io/managed-by or oneclaw.dev/ labels',
        );
      }
      for (const value of [
        '{{ .a | b64enc }}',
        '{{ password }}',
        '{{ .a }',
        'x {{ .a }} {{',
        '{{{ .a }}',
        '{{ .a b }}',
      ]) {
        const msg = await refusedSync('bad-template', { target: { template: { data: { out: value } } } });
        expect(msg, value).toContain('spec.target.template.data[out]');
        expect(msg, value).toContain(
          "template values may use '{{' only in placeholders of the form '{{ .KEY }}'",
        );
      }
      expect(
        await refusedSync('bad-template-key', { target: { template: { data: { 'a b': 'x' } } } }),
      ).toContain('template.data keys must be valid Secret data keys');
    });
  });

  describe('both kinds', () => {
    // Every field of the TypeScript types, set: strict field validation refuses a field the
    // schema lacks, the read-back must equal what was written (nothing pruned or altered), and
    // every property the schema declares must be present (the types lack none).
    const fullVaultSpec: DeepRequired<OneclawVaultSpec> = {
      displayName: 'Full vault',
      kmsKey: 'transit://transit/full',
      custody: 'kms',
      deletionPolicy: 'Delete',
      access: [
        {
          serviceAccount: 'web',
          paths: ['web/**'],
          permissions: ['read', 'list'],
          expiresAt: '2030-01-01T00:00:00Z',
        },
      ],
    };
    const fullSyncSpec: DeepRequired<SecretSyncSpec> = {
      vaultRef: { name: 'full' },
      serviceAccountName: 'web',
      data: [{ secretKey: 'password', path: 'web/db/password', version: 3 }],
      dataFrom: [{ path: 'web/env/*' }],
      target: {
        name: 'web-full',
        type: 'kubernetes.io/basic-auth',
        labels: { app: 'web' },
        annotations: { 'example.com/owner': 'team-a' },
        template: { data: { password: '{{ .password }}' } },
      },
      refreshInterval: '15m',
      rolloutRestartTargets: [{ kind: 'StatefulSet', name: 'db' }],
      onAccessLoss: 'Delete',
    };
    const condition = (type: string, reason: string) => ({
      type,
      status: 'True' as const,
      reason,
      message: 'all good',
      lastTransitionTime: now(),
      observedGeneration: 1,
    });

    it('match the TypeScript types field for field, status included', async () => {
      const vault = await createVault('full', fullVaultSpec);
      expect(vault.spec).toEqual(fullVaultSpec);
      const vaultStatus: DeepRequired<OneclawVaultStatus> = {
        vaultId: '0b9e5a8e-4c1e-4a51-9d7e-2f3f1c2b7a10',
        kekKeyId: 'transit:full',
        kekVersion: 2,
        observedGeneration: 1,
        conditions: [condition('Ready', Reason.VaultReady)],
      };
      const vaultBack = (await custom.replaceNamespacedCustomObjectStatus({
        ...vaults(),
        name: 'full',
        body: { ...vault, status: vaultStatus },
      })) as OneclawVault;
      expect(vaultBack.status).toEqual(vaultStatus);

      const sync = await createSync('full', fullSyncSpec);
      expect(sync.spec).toEqual(fullSyncSpec);
      const syncStatus: DeepRequired<SecretSyncStatus> = {
        observedGeneration: 1,
        conditions: [condition('Ready', Reason.SyncSucceeded), condition('Synced', Reason.SyncSucceeded)],
        lastSyncTime: now(),
        syncedVersions: { 'web/db/password': 3, 'web/env/LOG_LEVEL': 1 },
        secretHash: 'hmac-sha256:6d0f3c2a',
        targetName: 'web-full',
        pendingRestart: {
          requestedAt: now(),
          secretHash: 'hmac-sha256:6d0f3c2a',
          targets: [{ kind: 'Deployment', name: 'web' }],
        },
        lastRefreshRequest: '2026-01-02T03:04:05Z',
      };
      const syncBack = (await custom.replaceNamespacedCustomObjectStatus({
        ...syncs(),
        name: 'full',
        body: { ...sync, status: syncStatus },
      })) as SecretSync;
      expect(syncBack.status).toEqual(syncStatus);

      for (const [file, object] of [
        [CRD_FILES[0], vaultBack],
        [CRD_FILES[1], syncBack],
      ] as const) {
        const schema = readCrd(file ?? '').spec.versions[0]?.schema?.openAPIV3Schema ?? {};
        const present = valuePaths({ spec: object.spec, status: object.status }, '');
        const declared = schemaPaths(schema, '').filter(
          (p) => p.startsWith('.spec') || p.startsWith('.status'),
        );
        expect(declared.length).toBeGreaterThan(10);
        expect(declared.filter((p) => !present.has(p))).toEqual([]);
      }
    });

    it('write status only through the status subresource', async () => {
      const v = await createVault('status', { displayName: 'before' });
      expect(v.metadata.generation).toBe(1);
      // A status write that also tries to change spec changes status only.
      const written = (await custom.replaceNamespacedCustomObjectStatus({
        ...vaults(),
        name: 'status',
        body: {
          ...v,
          spec: { ...v.spec, displayName: 'sneaky', custody: 'kms' },
          status: { vaultId: 'v-1', kekVersion: 1, conditions: [condition('Ready', Reason.VaultReady)] },
        },
      })) as OneclawVault;
      expect(written.spec.displayName).toBe('before');
      expect(written.spec.custody).toBe('wrapped');
      expect(written.metadata.generation).toBe(1);
      expect(written.status?.vaultId).toBe('v-1');

      // A main-resource write that also tries to change status changes spec only.
      const updated = (await custom.replaceNamespacedCustomObject({
        ...vaults(),
        name: 'status',
        body: { ...written, spec: { ...written.spec, displayName: 'after' }, status: { vaultId: 'forged' } },
      })) as OneclawVault;
      expect(updated.spec.displayName).toBe('after');
      expect(updated.metadata.generation).toBe(2);
      expect(updated.status?.vaultId).toBe('v-1');

      // Status is validated too.
      const bad = await refusal(
        custom.replaceNamespacedCustomObjectStatus({
          ...vaults(),
          name: 'status',
          body: {
            ...updated,
            status: { conditions: [{ ...condition('Ready', 'VaultReady'), status: 'Yes' }] },
          },
        }),
      );
      expect(bad).toContain('status.conditions[0].status: Unsupported value: "Yes"');
    });

    it('print their columns, answer to the oneclaw category, and explain every field', async () => {
      await createVault('printed', { kmsKey: 'local://printed' });
      const v = await readVault('printed');
      await custom.replaceNamespacedCustomObjectStatus({
        ...vaults(),
        name: 'printed',
        body: {
          ...v,
          status: {
            vaultId: 'vault-printed-id',
            kekVersion: 7,
            conditions: [condition('Ready', Reason.VaultReady)],
          },
        },
      });
      const s = await createSync('printed', syncSpec({ vaultRef: { name: 'printed' } }));
      await custom.replaceNamespacedCustomObjectStatus({
        ...syncs(),
        name: 'printed',
        body: {
          ...s,
          status: {
            targetName: 'printed-secret',
            lastSyncTime: now(),
            conditions: [condition('Synced', Reason.SyncSucceeded)],
          },
        },
      });

      const vaultTable = (await kubectl('get', 'ocvault', 'printed', '-n', ns)).split('\n');
      expect(vaultTable[0]).toMatch(/^NAME\s+READY\s+VAULT ID\s+KEK VERSION\s+AGE$/);
      expect(vaultTable[1]).toMatch(/^printed\s+True\s+vault-printed-id\s+7\s+\d+s$/);
      const wide = (await kubectl('get', 'ocvault', 'printed', '-n', ns, '-o', 'wide')).split('\n');
      expect(wide[0]).toMatch(/^NAME\s+READY\s+VAULT ID\s+KEK VERSION\s+CUSTODY\s+KMS KEY\s+REASON\s+AGE$/);
      expect(wide[1]).toMatch(/\s+wrapped\s+local:\/\/printed\s+VaultReady\s+/);

      const syncTable = (await kubectl('get', 'ssync', 'printed', '-n', ns)).split('\n');
      expect(syncTable[0]).toMatch(/^NAME\s+VAULT\s+TARGET\s+SYNCED\s+LAST SYNC\s+AGE$/);
      expect(syncTable[1]).toMatch(/^printed\s+printed\s+printed-secret\s+True\s+\d+s\s+\d+s$/);

      const all = await kubectl('get', CATEGORY, '-n', ns, '-o', 'name');
      expect(all).toContain('oneclawvault.oneclaw.dev/printed');
      expect(all).toContain('secretsync.oneclaw.dev/printed');

      // The CRDs' OpenAPI reaches /openapi/v3 a moment after they are established.
      const access = await eventually('kubectl explain oneclawvault.spec.access', async () => {
        const out = await kubectl('explain', 'oneclawvault.spec.access');
        return out.includes('Who in this namespace may use the vault') ? out : undefined;
      });
      expect(access).toContain('serviceAccount\t<string> -required-');
      expect(access).toContain(
        "Secret path globs this grant covers (1-32). A glob is '/'-separated segments",
      );
      expect(access).toContain('What the service account may do on those paths: read');
      const target = await eventually('kubectl explain secretsync.spec.target', async () => {
        const out = await kubectl('explain', 'secretsync.spec.target');
        return out.includes('The Kubernetes Secret to write, in this namespace.') ? out : undefined;
      });
      expect(target).toContain("Name of the Secret. Default: this SecretSync's name.");
      expect(target).toContain("The Secret's type (default Opaque)");
      expect(target).toContain("Renders the Secret's data from the synced keys");
      const custody = await kubectl('explain', 'ocvault.spec.custody');
      expect(custody).toMatch(/ENUM:\s+wrapped\s+kms/);
      const template = await kubectl('explain', 'ssync.spec.target.template.data');
      expect(template).toContain("A placeholder is '{{ .KEY }}'");
    });

    it('accept the examples', async () => {
      const objects = readdirSync(join(repoRoot, 'examples'))
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .flatMap(
          (f) => loadAllYaml(readFileSync(join(repoRoot, 'examples', f), 'utf8')) as KubernetesObject[],
        )
        .filter((o) => o.kind !== 'Namespace');
      expect(objects.map((o) => o.kind)).toEqual([
        'ServiceAccount',
        'OneclawVault',
        'SecretSync',
        'SecretSync',
        'Deployment',
      ]);
      const client = KubernetesObjectApi.makeApiClient(kc);
      for (const o of objects) {
        const created = await client.create({ ...o, metadata: { ...o.metadata, namespace: ns } });
        expect(created.metadata?.namespace).toBe(ns);
      }
      const sync = (await custom.getNamespacedCustomObject({
        ...syncs(),
        name: 'web-secrets',
      })) as SecretSync;
      expect(sync.spec.target).toEqual({ labels: { app: 'web' }, type: 'Opaque' });
    });
  });
});
