// Every rendered set, CRDs included, applied with a server-side dry run against the real
// kube-apiserver of the test harness: the apiserver itself validates each object (schemas,
// RBAC references, the projected token volume, the PodDisruptionBudget), and admission runs,
// without anything being persisted. Each case gets namespaces of its own.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartDir, helm, minimalValues, renderChart, renderChartText } from '../support/chart-render.js';
import { sharedPeer, uniqueName } from '../support/fixtures.js';
import type { KubeInfo } from '../support/peers/kube.js';
import { tools } from '../support/tools.js';
import { cases, valuesFor } from './cases.js';

const run = promisify(execFile);

// The prometheus-operator CRD is not part of a bare control plane. A minimal stand-in (same
// group, kind and scope; fields unchecked) lets the ServiceMonitor case be dry-run too. It is
// removed again after the suite.
const SERVICE_MONITOR_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: {
      kind: 'ServiceMonitor',
      listKind: 'ServiceMonitorList',
      plural: 'servicemonitors',
      singular: 'servicemonitor',
    },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};

let kube: KubeInfo;
const namespaces: string[] = [];

async function kubectl(args: string[], stdin?: string): Promise<string> {
  if (stdin === undefined) {
    const { stdout } = await run(tools.kubectl(), ['--kubeconfig', kube.kubeconfig, ...args]);
    return stdout;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(tools.kubectl(), ['--kubeconfig', kube.kubeconfig, ...args]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err || out}`)),
    );
    child.stdin.end(stdin);
  });
}

async function createNamespace(name: string): Promise<void> {
  await kubectl(['create', 'namespace', name]);
  namespaces.push(name);
}

beforeAll(async () => {
  kube = await sharedPeer('kube');
  await kubectl(
    ['apply', '--server-side', '--field-manager=oneclaw-chart-tests', '-f', '-'],
    JSON.stringify(SERVICE_MONITOR_CRD),
  );
  await kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/servicemonitors.monitoring.coreos.com',
  ]);
});

afterAll(async () => {
  if (!kube) return;
  for (const ns of namespaces) await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  await kubectl(['delete', 'crd', 'servicemonitors.monitoring.coreos.com', '--wait=false']).catch(() => {});
});

describe.each(cases)('chart dry-run: $name', (c) => {
  it('is accepted object by object by the apiserver', async () => {
    const suffix = uniqueName('c').slice(2);
    const namespace = `oneclaw-${suffix}`;
    await createNamespace(namespace);
    for (const ns of c.extraNamespaces?.(suffix) ?? []) await createNamespace(ns);
    const opts = { namespace, values: valuesFor(c, suffix), includeCrds: true };
    const objects = await renderChart(opts);
    const out = await kubectl(
      [
        'apply',
        '--server-side',
        '--force-conflicts',
        '--field-manager=oneclaw-chart-dry-run',
        '--dry-run=server',
        '-f',
        '-',
      ],
      await renderChartText(opts),
    );
    const applied = out.split('\n').filter((l) => /serverside-applied \(server dry run\)$/.test(l));
    expect(applied.length, out).toBe(objects.length);
    expect(out).toContain('customresourcedefinition.apiextensions.k8s.io/oneclawvaults.oneclaw.dev');
    expect(out).toContain(`deployment.apps/oneclaw-api serverside-applied`);
  });
});

describe('chart dry-run: helm install', () => {
  it('installs against the cluster (its real version) and tells the user the next step', async () => {
    const namespace = uniqueName('oneclaw-helm');
    await createNamespace(namespace);
    const dir = mkdtempSync(join(tmpdir(), 'oneclaw-helm-'));
    const values = join(dir, 'values.json');
    writeFileSync(values, JSON.stringify(minimalValues()));
    const out = await helm([
      'install',
      'oneclaw',
      chartDir,
      '--kubeconfig',
      kube.kubeconfig,
      '--namespace',
      namespace,
      '--dry-run=server',
      '--skip-crds',
      '-f',
      values,
    ]);
    expect(out).toContain('STATUS: pending-install');
    expect(out).toContain(`kubectl -n ${namespace} rollout status deployment/oneclaw-api`);
    expect(out).toMatch(/one-time admin key/);
    expect(out).toContain('docs/upgrading.md');
  });
});
