// What the chart renders, checked object by object for every case of the values matrix:
// hardened pods, the probes and environment the API and operator read, credentials only by
// reference to Secrets, RBAC without wildcards and exactly the rules the code needs.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  KubernetesObject,
  V1ClusterRole,
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../api/src/config.js';
import { EnvSchema } from '../../common/src/environment.js';
import { loadOperatorConfig, OperatorEnvSchema } from '../../operator/src/config.js';
import {
  chartDir,
  chartKubeVersion,
  helm,
  lintChart,
  minimalValues,
  renderChart,
} from '../support/chart-render.js';
import { repoRoot } from '../support/tools.js';
import { type ChartCase, cases, valuesFor } from './cases.js';

const NS = 'oneclaw-system';

const byKind = <T extends KubernetesObject>(objs: KubernetesObject[], kind: string) =>
  objs.filter((o) => o.kind === kind) as T[];
const named = <T extends KubernetesObject>(objs: KubernetesObject[], kind: string, name: string) => {
  const found = objs.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name} rendered`);
  return found as T;
};
const container = (d: V1Deployment): V1Container => {
  const c = d.spec?.template.spec?.containers[0];
  if (!c) throw new Error(`${d.metadata?.name} has no container`);
  return c;
};
const envOf = (c: V1Container) => new Map((c.env ?? []).map((e) => [e.name, e] as const));
const value = (env: Map<string, V1EnvVar>, name: string) => env.get(name)?.value;

/** What a credential looks like by name; such variables must come from a Secret. */
const CREDENTIAL = /_TOKEN$|PASSWORD|SECRET_ACCESS_KEY|_PIN$|_KEY$|ACCESS_KEY_ID|DATABASE_URL/;
/** Key URIs name a key in a KMS; they are not the key. */
const KEY_URIS = new Set(['ONECLAW_KMS_KEY', 'ONECLAW_SIGNING_KEY']);

describe.each(cases)('chart: $name', (c: ChartCase) => {
  let objs: KubernetesObject[];
  let api: V1Deployment;
  let operator: V1Deployment;
  const values = valuesFor(c, 'render');

  beforeAll(async () => {
    objs = await renderChart({ values, namespace: NS });
    api = named<V1Deployment>(objs, 'Deployment', 'oneclaw-api');
    operator = named<V1Deployment>(objs, 'Deployment', 'oneclaw-operator');
  });

  it('passes helm lint --strict', async () => {
    await expect(lintChart({ values })).resolves.toMatch(/0 chart\(s\) failed/);
  });

  it('runs every pod non-root, read-only, without capabilities, under the runtime seccomp profile', () => {
    for (const d of byKind<V1Deployment>(objs, 'Deployment')) {
      const pod = d.spec?.template.spec;
      expect(pod?.securityContext?.runAsNonRoot, d.metadata?.name).toBe(true);
      expect(pod?.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      // The kubelet makes the 0400 Secret volume files readable by the non-root UID through it.
      expect(pod?.securityContext?.fsGroup).toBe(10001);
      for (const ctr of pod?.containers ?? []) {
        expect(ctr.securityContext?.readOnlyRootFilesystem, ctr.name).toBe(true);
        expect(ctr.securityContext?.allowPrivilegeEscalation).toBe(false);
        expect(ctr.securityContext?.capabilities?.drop).toEqual(['ALL']);
        expect(ctr.securityContext?.capabilities?.add).toBeUndefined();
        expect(ctr.securityContext?.privileged).toBeUndefined();
        expect(ctr.resources?.requests, `${ctr.name} requests`).toBeDefined();
        expect(ctr.resources?.limits?.memory, `${ctr.name} memory limit`).toBeDefined();
        // The only writable path is an emptyDir at /tmp.
        const tmp = ctr.volumeMounts?.find((m) => m.mountPath === '/tmp');
        expect(pod?.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
      }
    }
  });

  it('probes the API on /readyz and /healthz and spreads replicas under a budget when there are several', () => {
    const ctr = container(api);
    expect(ctr.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(ctr.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(ctr.args).toEqual(['server']);
    const replicas = api.spec?.replicas ?? 1;
    const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget' && o.metadata?.name === 'oneclaw-api');
    expect(Boolean(pdb)).toBe(replicas > 1);
    expect(api.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
  });

  it('configures the API with variables it knows and values it accepts, in the production profile', () => {
    const env = envOf(container(api));
    const known = new Set(Object.keys(EnvSchema.properties));
    for (const name of env.keys()) if (name.startsWith('ONECLAW_')) expect(known, name).toContain(name);
    expect(value(env, 'ONECLAW_PROFILE')).toBe('production');
    expect(env.get('ONECLAW_DATABASE_URL')?.valueFrom?.secretKeyRef?.name).toBe('oneclaw-database');
    // Parse it as the server does: Secret references become plausible values, mounted files
    // real files, so a name or format the server would reject fails here.
    const dir = mkdtempSync(join(tmpdir(), 'oneclaw-chart-env-'));
    const masterKey = join(dir, 'master-key');
    writeFileSync(masterKey, Buffer.alloc(32, 7).toString('base64'));
    const sample: Record<string, string> = {
      ONECLAW_DATABASE_URL: 'postgres://u:p@db:5432/oneclaw',
      ONECLAW_TRANSIT_TOKEN: 'token',
      ONECLAW_PKCS11_PIN: '1234',
      ONECLAW_BOOTSTRAP_ADMIN_KEY: `ocu_${'a'.repeat(40)}`,
    };
    const processEnv: Record<string, string> = {};
    for (const [name, e] of env) {
      if (!name.startsWith('ONECLAW_')) continue;
      if (e.valueFrom) processEnv[name] = sample[name] ?? 'x';
      else processEnv[name] = name === 'ONECLAW_LOCAL_MASTER_KEY_FILE' ? masterKey : (e.value ?? '');
    }
    const config = loadConfig(processEnv);
    expect(config.profile).toBe('production');
    expect(config.listen.host).toBe('0.0.0.0');
    expect(config.kmsKey).toBe(value(env, 'ONECLAW_KMS_KEY'));
    expect(config.k8sAdminServiceAccounts).toContain(`system:serviceaccount:${NS}:oneclaw-operator`);
  });

  it('runs the operator with leader election, a projected token of the API audience, and the API Service', () => {
    const ctr = container(operator);
    const env = envOf(ctr);
    // NODE_OPTIONS: Node's own (a small young generation, for the operator's resident memory).
    const known = new Set([
      ...Object.keys(OperatorEnvSchema.properties),
      'ONECLAW_LOG_LEVEL',
      'NODE_OPTIONS',
    ]);
    for (const name of env.keys()) expect(known, name).toContain(name);
    expect(env.get('NODE_OPTIONS')?.value).toMatch(/--max-semi-space-size=\d+/);
    const config = loadOperatorConfig(
      Object.fromEntries([...env].map(([k, e]) => [k, e.value ?? ''])) as NodeJS.ProcessEnv,
    );
    expect(config.leaderElection).toBe(true);
    expect(config.namespace).toBe(NS);
    expect(config.serviceAccount).toBe('oneclaw-operator');
    expect(operator.spec?.template.spec?.serviceAccountName).toBe('oneclaw-operator');
    // ONECLAW_API_URL reaches the API Service's port.
    const svc = named<KubernetesObject & { spec: { ports: Array<{ port: number }> } }>(
      objs,
      'Service',
      'oneclaw-api',
    );
    expect(config.apiUrl).toBe(`http://oneclaw-api.${NS}.svc:${svc.spec.ports[0]?.port}`);
    // The token file is a projected token whose audience is the one the API demands.
    const apiAudience = value(envOf(container(api)), 'ONECLAW_K8S_AUDIENCE');
    expect(config.audience).toBe(apiAudience);
    const mount = ctr.volumeMounts?.find((m) => config.tokenFile?.startsWith(`${m.mountPath}/`));
    const volume = operator.spec?.template.spec?.volumes?.find((v) => v.name === mount?.name);
    const projected = volume?.projected?.sources?.[0]?.serviceAccountToken;
    expect(projected?.audience).toBe(apiAudience);
    expect(`${mount?.mountPath}/${projected?.path}`).toBe(config.tokenFile);
    expect(ctr.readinessProbe?.httpGet?.port).toBe('metrics');
    expect(config.watchNamespace).toBe((values.operator as { watchNamespace?: string })?.watchNamespace);
  });

  it('takes every credential from a Secret by reference and renders no Secret itself', () => {
    expect(byKind(objs, 'Secret')).toEqual([]);
    for (const d of byKind<V1Deployment>(objs, 'Deployment')) {
      for (const ctr of d.spec?.template.spec?.containers ?? []) {
        for (const e of ctr.env ?? []) {
          if (CREDENTIAL.test(e.name) && !e.name.endsWith('_FILE') && !KEY_URIS.has(e.name))
            expect(e.valueFrom?.secretKeyRef, `${ctr.name} ${e.name}`).toBeDefined();
          expect(e.value ?? '', e.name).not.toMatch(/postgres(ql)?:\/\/|BEGIN .*PRIVATE KEY/);
        }
        // Files a credential is read from are mounted Secret volumes.
        for (const e of ctr.env ?? []) {
          if (!/_FILE$|GOOGLE_APPLICATION_CREDENTIALS|NODE_EXTRA_CA_CERTS/.test(e.name)) continue;
          if (e.name === 'ONECLAW_OPERATOR_TOKEN_FILE' || e.name === 'ONECLAW_K8S_CA_FILE') continue;
          const mount = ctr.volumeMounts?.find((m) => e.value?.startsWith(`${m.mountPath}/`));
          const vol = d.spec?.template.spec?.volumes?.find((v) => v.name === mount?.name);
          expect(vol?.secret?.secretName, `${e.name} is read from a Secret volume`).toBeTruthy();
        }
      }
    }
  });

  it('grants RBAC without wildcards, and no ClusterRole beyond what must be cluster-wide', () => {
    const roles = [...byKind<V1Role>(objs, 'Role'), ...byKind<V1ClusterRole>(objs, 'ClusterRole')];
    expect(roles.length).toBeGreaterThan(0);
    for (const r of roles) {
      for (const rule of r.rules ?? []) {
        for (const field of ['verbs', 'resources', 'apiGroups', 'nonResourceURLs', 'resourceNames'] as const)
          for (const item of rule[field] ?? [])
            expect(item, `${r.kind} ${r.metadata?.name} ${field}`).not.toContain('*');
      }
    }
    const watch = (values.operator as { watchNamespace?: string } | undefined)?.watchNamespace;
    const clusterOperator = objs.find(
      (o) => o.kind === 'ClusterRole' && o.metadata?.name === 'oneclaw-operator',
    );
    expect(Boolean(clusterOperator)).toBe(!watch);
    if (watch) {
      const role = named<V1Role>(objs, 'Role', 'oneclaw-operator');
      expect(role.metadata?.namespace).toBe(watch);
      const binding = named<V1RoleBinding>(objs, 'RoleBinding', 'oneclaw-operator');
      expect(binding.metadata?.namespace).toBe(watch);
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'oneclaw-operator', namespace: NS }]);
    }
  });

  it('backs each KMS backend in use (key, previous keys, signing key) with its credentials, and no other', () => {
    const kms = (values.kms ?? {}) as { backend?: string; previousKeys?: string[] };
    const signing = (values.signing ?? {}) as { key?: string };
    const scheme = (uri: string) => uri.split('://')[0] as string;
    const inUse = new Set([
      kms.backend ?? 'local',
      ...(kms.previousKeys ?? []).map(scheme),
      ...(signing.key && scheme(signing.key) !== 'local' ? [scheme(signing.key)] : []),
    ]);
    const ctr = container(api);
    const env = envOf(ctr);
    const secretRef = (name: string) => env.get(name)?.valueFrom?.secretKeyRef?.name;
    const volumes = api.spec?.template.spec?.volumes ?? [];
    const marker: Record<string, boolean> = {
      local: env.has('ONECLAW_LOCAL_MASTER_KEY_FILE'),
      transit: env.has('ONECLAW_TRANSIT_ADDR'),
      pkcs11: env.has('ONECLAW_PKCS11_PIN'),
    };
    for (const [backend, rendered] of Object.entries(marker)) expect(rendered).toBe(inUse.has(backend));
    for (const backend of inUse) checkBackend(backend);

    function checkBackend(backend: string): void {
      switch (backend) {
        case 'local':
          expect(volumes.find((v) => v.name === 'kms-local')?.secret?.secretName).toBe('oneclaw-local-kms');
          break;
        case 'gcpkms':
          expect(value(env, 'ONECLAW_GCP_KMS_ENDPOINT') ?? 'default').toBeTruthy();
          if (env.has('GOOGLE_APPLICATION_CREDENTIALS'))
            expect(volumes.find((v) => v.name === 'gcp-credentials')?.secret?.secretName).toBe('gcp-sa');
          else
            expect(
              named(objs, 'ServiceAccount', 'oneclaw-api').metadata?.annotations?.[
                'iam.gke.io/gcp-service-account'
              ],
            ).toBeTruthy();
          break;
        case 'awskms':
          if (env.has('AWS_ACCESS_KEY_ID')) {
            expect(secretRef('AWS_ACCESS_KEY_ID')).toBe('aws-keys');
            expect(secretRef('AWS_SECRET_ACCESS_KEY')).toBe('aws-keys');
          }
          break;
        case 'transit':
          expect(value(env, 'ONECLAW_TRANSIT_ADDR')).toBe('https://vault.vault.svc:8200');
          expect(secretRef('ONECLAW_TRANSIT_TOKEN')).toBe('vault-token');
          expect(value(env, 'ONECLAW_TRANSIT_NAMESPACE')).toBe('team-a');
          expect(volumes.find((v) => v.name === 'transit-ca')?.secret?.secretName).toBe('vault-ca');
          break;
        case 'pkcs11':
          expect(secretRef('ONECLAW_PKCS11_PIN')).toBe('hsm-pin');
          expect(ctr.volumeMounts?.some((m) => m.mountPath === '/opt/hsm')).toBe(true);
          break;
        default:
          throw new Error(`untested backend ${backend}`);
      }
    }
  });
});

// The exact rules, so widening or narrowing them is a deliberate change to this list (and to
// docs/security.md), not a side effect of a template edit.
describe('chart: the operator and API rules', () => {
  const rulesOf = (objs: KubernetesObject[], kind: string, name: string): V1PolicyRule[] =>
    (named<V1Role>(objs, kind, name).rules ?? []).map((r) => JSON.parse(JSON.stringify(r)));
  const served: V1PolicyRule[] = [
    {
      apiGroups: ['oneclaw.dev'],
      resources: ['oneclawvaults', 'secretsyncs'],
      verbs: ['list', 'watch'],
    },
    { apiGroups: ['oneclaw.dev'], resources: ['oneclawvaults'], verbs: ['patch'] },
    {
      apiGroups: ['oneclaw.dev'],
      resources: ['oneclawvaults/status', 'secretsyncs/status'],
      verbs: ['patch'],
    },
    { apiGroups: ['oneclaw.dev'], resources: ['secretsyncs/finalizers'], verbs: ['update'] },
    {
      apiGroups: [''],
      resources: ['secrets'],
      verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
    },
    { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets'], verbs: ['patch'] },
  ];

  it('grants the operator exactly what it calls, cluster-wide or in its one namespace', async () => {
    const cluster = await renderChart({});
    expect(rulesOf(cluster, 'ClusterRole', 'oneclaw-operator')).toEqual(served);
    const namespaced = await renderChart({ values: { operator: { watchNamespace: 'apps' } } });
    expect(rulesOf(namespaced, 'Role', 'oneclaw-operator')).toEqual(served);
    for (const objs of [cluster, namespaced]) {
      expect(rulesOf(objs, 'Role', 'oneclaw-operator-leader-election')).toEqual([
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: ['oneclaw-operator'],
          verbs: ['get', 'update'],
        },
      ]);
    }
  });

  it('grants the API TokenReview, or only the issuer documents in JWKS mode', async () => {
    expect(rulesOf(await renderChart({}), 'ClusterRole', 'oneclaw-api')).toEqual([
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    ]);
    const jwks = await renderChart({
      values: { api: { k8sAuth: { mode: 'jwks', issuer: 'https://k8s.example' } } },
    });
    expect(rulesOf(jwks, 'ClusterRole', 'oneclaw-api')).toEqual([
      { nonResourceURLs: ['/.well-known/openid-configuration', '/openid/v1/jwks'], verbs: ['get'] },
    ]);
  });

  it('names objects after the release, or fullnameOverride', async () => {
    const objs = await renderChart({ release: 'prod', values: { fullnameOverride: 'vault' } });
    const sas = byKind(objs, 'ServiceAccount').map((o) => o.metadata?.name);
    expect(sas.sort()).toEqual(['vault-api', 'vault-operator']);
    const other = await renderChart({ release: 'staging' });
    expect(
      byKind(other, 'ServiceAccount')
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(['staging-api', 'staging-operator']);
    const api = named<V1Deployment>(other, 'Deployment', 'staging-api');
    expect(value(envOf(container(api)), 'ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS')).toBe(
      `system:serviceaccount:${NS}:staging-operator`,
    );
  });

  it("tells the operator the API's org-admin accounts, which no SecretSync may read as", async () => {
    const extra = ['system:serviceaccount:ops:breakglass'];
    const objs = await renderChart({
      release: 'staging',
      values: { api: { extraAdminServiceAccounts: extra } },
    });
    const apiAdmins = value(
      envOf(container(named(objs, 'Deployment', 'staging-api'))),
      'ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS',
    );
    expect(apiAdmins).toBe(`system:serviceaccount:${NS}:staging-operator,${extra[0]}`);
    const env = envOf(container(named(objs, 'Deployment', 'staging-operator')));
    expect(value(env, 'ONECLAW_OPERATOR_ADMIN_SERVICE_ACCOUNTS')).toBe(apiAdmins);
    const config = loadOperatorConfig(
      Object.fromEntries([...env].map(([k, e]) => [k, e.value ?? ''])) as NodeJS.ProcessEnv,
    );
    expect(config.adminServiceAccounts).toEqual(apiAdmins?.split(','));
  });

  it('renders ServiceMonitors for both components only when asked', async () => {
    expect(byKind(await renderChart({}), 'ServiceMonitor')).toEqual([]);
    const on = await renderChart({ values: { serviceMonitor: { enabled: true } } });
    const monitors = byKind<
      KubernetesObject & {
        spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }> };
      }
    >(on, 'ServiceMonitor');
    expect(monitors.map((m) => m.metadata?.name).sort()).toEqual(['oneclaw-api', 'oneclaw-operator']);
    // Each selects a Service that exposes the port it scrapes.
    for (const m of monitors) {
      const svc = byKind<KubernetesObject & { spec: { ports: Array<{ name: string }> } }>(on, 'Service').find(
        (s) => Object.entries(m.spec.selector.matchLabels).every(([k, v]) => s.metadata?.labels?.[k] === v),
      );
      expect(svc?.spec.ports.map((p) => p.name)).toContain(m.spec.endpoints[0]?.port);
    }
  });
});

describe('chart: NOTES', () => {
  /** NOTES.txt as `helm install` prints it: `helm template` leaves it out, so a copy renders it. */
  const notes = async (values: Record<string, unknown>, release: string, namespace: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'oneclaw-notes-'));
    try {
      const chart = join(dir, 'oneclaw');
      cpSync(chartDir, chart, { recursive: true });
      const text = readFileSync(join(chart, 'templates/NOTES.txt'), 'utf8');
      rmSync(join(chart, 'templates/NOTES.txt'));
      writeFileSync(join(chart, 'templates/_notes.tpl'), `{{- define "test.notes" -}}\n${text}{{- end -}}\n`);
      writeFileSync(join(chart, 'templates/notes.yaml'), 'notes: {{ include "test.notes" . | b64enc }}\n');
      const files = [minimalValues(), values].flatMap((v, i) => {
        const f = join(dir, `values-${i}.json`);
        writeFileSync(f, JSON.stringify(v));
        return ['-f', f];
      });
      const out = await helm([
        'template',
        release,
        chart,
        '--namespace',
        namespace,
        '--kube-version',
        chartKubeVersion(),
        '--show-only',
        'templates/notes.yaml',
        ...files,
      ]);
      const b64 = /^notes: (\S+)$/m.exec(out)?.[1];
      if (!b64) throw new Error(`no notes rendered:\n${out}`);
      return Buffer.from(b64, 'base64').toString();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('finds the one-time admin key in the logs of every API replica, by the pods’ own labels', async () => {
    const values = { api: { replicas: 3 } };
    const text = await notes(values, 'vault', 'team-a');
    const cmd = /kubectl -n team-a logs -l (\S+) --prefix --tail=-1 \| grep -A2 'Admin API key'/.exec(text);
    expect(cmd, text).not.toBeNull();
    expect(text).not.toMatch(/logs deployment\//);
    // The selector picks exactly the API Deployment's pods, not the operator's.
    const selector = Object.fromEntries((cmd?.[1] ?? '').split(',').map((p) => p.split('=')));
    const objs = await renderChart({ values, release: 'vault', namespace: 'team-a' });
    const api = named<V1Deployment>(objs, 'Deployment', 'vault-api');
    const operator = named<V1Deployment>(objs, 'Deployment', 'vault-operator');
    expect(selector).toEqual(api.spec?.selector.matchLabels);
    expect(api.spec?.template.metadata?.labels).toMatchObject(selector);
    expect(operator.spec?.template.metadata?.labels).not.toMatchObject(selector);
    // What the grep looks for is what `oneclaw server` prints.
    expect(readFileSync(join(repoRoot, 'cli/src/commands/server.ts'), 'utf8')).toContain('Admin API key');
  });

  it('points at the bootstrap admin key Secret when one is configured', async () => {
    const text = await notes(
      { api: { bootstrapAdminKeySecret: { name: 'oneclaw-admin', key: 'admin-key' } } },
      'oneclaw',
      NS,
    );
    expect(text).toContain(
      `kubectl -n ${NS} get secret oneclaw-admin -o go-template='{{index .data "admin-key" | base64decode}}'`,
    );
    expect(text).toMatch(/provided the\s+database was empty when the API first started/);
    expect(text).not.toContain('Admin API key');
  });
});
