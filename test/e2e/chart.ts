// The Helm chart as the e2e suite sees it: rendered with `helm template` (no cluster needed), split
// into objects, and the parts a local install applies — CRDs and the RBAC objects
// (ServiceAccounts, Roles, ClusterRoles and their bindings). Also the edits the RBAC ablation
// makes: one verb of one resource taken out of one rule.
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { repoRoot, tools } from '../support/tools.js';

const run = promisify(execFile);

export const CHART_DIR = join(repoRoot, 'charts/oneclaw');

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}

export interface RbacObject extends Manifest {
  rules?: PolicyRule[];
}

export const RBAC_KINDS = ['ServiceAccount', 'Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'];

export interface RenderOptions {
  release: string;
  namespace: string;
  /** `--kube-version`, so .Capabilities.KubeVersion is the cluster's. */
  kubeVersion?: string;
  /** `--set` values. */
  set?: Record<string, string>;
}

/** Every object `helm template` renders, CRDs included. */
export function renderChart(opts: RenderOptions): Manifest[] {
  const args = ['template', opts.release, CHART_DIR, '--namespace', opts.namespace, '--include-crds'];
  if (opts.kubeVersion) args.push('--kube-version', opts.kubeVersion);
  for (const [k, v] of Object.entries(opts.set ?? {})) args.push('--set', `${k}=${v}`);
  const text = execFileSync(tools.helm(), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return (loadAllYaml(text) as Array<Manifest | null>).filter((o): o is Manifest => !!o?.kind);
}

export const isRbac = (o: Manifest): o is RbacObject => RBAC_KINDS.includes(o.kind);
export const isCrd = (o: Manifest) => o.kind === 'CustomResourceDefinition';
/** The SecretSync admission policy and its binding (operator.admissionPolicy). */
export const isAdmissionPolicy = (o: Manifest) =>
  o.kind === 'ValidatingAdmissionPolicy' || o.kind === 'ValidatingAdmissionPolicyBinding';

export const RELEASE = 'oneclaw';
export const RELEASE_NAMESPACE = 'oneclaw-system';

/**
 * The values a user passes to `helm install` (hack/kind-up.sh passes the same): the Secrets named
 * here hold the database URL and keys. Locally those Secrets are not created; their contents go
 * to the processes directly.
 */
export const INSTALL_VALUES: Record<string, string> = {
  'database.existingSecret': 'oneclaw-database',
  'kms.local.existingSecret': 'oneclaw-master-key',
  'signing.existingSecret': 'oneclaw-signing-key',
  'api.bootstrapAdminKeySecret.name': 'oneclaw-admin-key',
};

export function renderForInstall(kubeVersion?: string): Manifest[] {
  return renderChart({
    release: RELEASE,
    namespace: RELEASE_NAMESPACE,
    ...(kubeVersion ? { kubeVersion } : {}),
    set: INSTALL_VALUES,
  });
}

/** A rendered Deployment's first container and pod spec (what a local install runs as a process). */
export interface Workload {
  name: string;
  serviceAccountName: string;
  args: string[];
  /** Literal env values as rendered; `valueFrom` entries are listed by name in `fromSources`. */
  env: Record<string, string>;
  fromSources: string[];
}

interface DeploymentLike {
  metadata: { name: string };
  spec: {
    template: {
      spec: {
        serviceAccountName?: string;
        containers: Array<{
          args?: string[];
          command?: string[];
          env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
        }>;
      };
    };
  };
}

export function workloads(objects: Manifest[]): Workload[] {
  return objects
    .filter((o) => o.kind === 'Deployment')
    .map((o) => {
      const d = o as unknown as DeploymentLike;
      const pod = d.spec.template.spec;
      const c = pod.containers[0];
      const env: Record<string, string> = {};
      const fromSources: string[] = [];
      for (const e of c?.env ?? []) {
        if (e.valueFrom !== undefined) fromSources.push(e.name);
        else env[e.name] = e.value ?? '';
      }
      return {
        name: d.metadata.name,
        serviceAccountName: pod.serviceAccountName ?? 'default',
        args: [...(c?.command ?? []), ...(c?.args ?? [])],
        env,
        fromSources,
      };
    });
}

/** The workload whose container runs `oneclaw <command>`. */
export function workloadRunning(objects: Manifest[], command: 'server' | 'operator'): Workload {
  const found = workloads(objects).filter((w) => w.args.includes(command));
  if (found.length !== 1) {
    throw new Error(
      `expected one Deployment running \`oneclaw ${command}\` in the chart, found ${found.length}: ` +
        workloads(objects)
          .map((w) => `${w.name} [${w.args.join(' ')}]`)
          .join(', '),
    );
  }
  return found[0] as Workload;
}

export const toYaml = (objects: Manifest[]) => objects.map((o) => dumpYaml(o)).join('---\n');

/** kubectl with a kubeconfig; `input` goes to stdin. */
export async function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const child = run(tools.kubectl(), ['--kubeconfig', kubeconfig, ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

/** Server-side apply, as `helm install` would create them (field manager "helm"). */
export async function applyObjects(kubeconfig: string, objects: Manifest[]): Promise<void> {
  if (!objects.length) return;
  await kubectl(kubeconfig, ['apply', '--server-side', '--field-manager=helm', '-f', '-'], toYaml(objects));
}

export async function deleteObjects(kubeconfig: string, objects: Manifest[]): Promise<void> {
  if (!objects.length) return;
  await kubectl(kubeconfig, ['delete', '--ignore-not-found', '--wait=true', '-f', '-'], toYaml(objects));
}

// ── RBAC ablation ──

/** One permission of the chart: a verb on a resource, granted by one rule of one (Cluster)Role. */
export interface Permission {
  kind: 'Role' | 'ClusterRole';
  name: string;
  namespace?: string;
  ruleIndex: number;
  apiGroup: string;
  resource: string;
  verb: string;
}

export const permissionId = (p: Permission) =>
  `${p.kind}/${p.name} rule ${p.ruleIndex}: ${p.apiGroup || 'core'} ${p.resource} ${p.verb}`;

/** Every (resource, verb) pair the chart's Roles and ClusterRoles grant. */
export function permissions(objects: Manifest[]): Permission[] {
  const out: Permission[] = [];
  for (const o of objects) {
    if (o.kind !== 'Role' && o.kind !== 'ClusterRole') continue;
    const r = o as RbacObject;
    (r.rules ?? []).forEach((rule, ruleIndex) => {
      for (const apiGroup of rule.apiGroups ?? ['']) {
        for (const resource of rule.resources ?? rule.nonResourceURLs ?? []) {
          for (const verb of rule.verbs) {
            out.push({
              kind: o.kind as Permission['kind'],
              name: o.metadata.name,
              ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
              ruleIndex,
              apiGroup,
              resource,
              verb,
            });
          }
        }
      }
    });
  }
  return out;
}

/**
 * The objects with one permission taken away and nothing else: the rule that grants it is split
 * so the other resources and verbs it names stay granted.
 */
export function withoutPermission(objects: Manifest[], p: Permission): Manifest[] {
  return objects.map((o) => {
    if (o.kind !== p.kind || o.metadata.name !== p.name || o.metadata.namespace !== p.namespace) return o;
    const r = structuredClone(o) as RbacObject;
    const rules: PolicyRule[] = [];
    (r.rules ?? []).forEach((rule, i) => {
      if (i !== p.ruleIndex) {
        rules.push(rule);
        return;
      }
      const groups = rule.apiGroups ?? [''];
      const resources = rule.resources ?? [];
      const keep = (g: string, res: string) => g !== p.apiGroup || res !== p.resource;
      // The pairs untouched by the removal keep the rule as it was, minus the one pair.
      const otherGroups = groups.filter((g) => g !== p.apiGroup);
      if (otherGroups.length) rules.push({ ...rule, apiGroups: otherGroups });
      if (groups.includes(p.apiGroup)) {
        const otherResources = resources.filter((res) => keep(p.apiGroup, res));
        if (otherResources.length)
          rules.push({ ...rule, apiGroups: [p.apiGroup], resources: otherResources });
        const verbs = rule.verbs.filter((v) => v !== p.verb);
        if (verbs.length) rules.push({ ...rule, apiGroups: [p.apiGroup], resources: [p.resource], verbs });
      }
    });
    r.rules = rules;
    return r;
  });
}
