// The chart ships the CRDs of crds/ (the source of truth) byte for byte: helm installs
// charts/oneclaw/crds/ on first install, and a drift between the two would install a schema
// the operator was not built for. To update: cp crds/oneclaw.dev_*.yaml charts/oneclaw/crds/
// The SecretSync admission policy of crds/ is not a CRD: helm would install anything in the
// chart's crds/ unconditionally, so the chart renders it from a template (operator.admissionPolicy)
// instead, and the rendered specs must equal those of crds/.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type KubernetesObject, loadAllYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { chartDir, renderChart } from '../support/chart-render.js';
import { crdFiles } from '../support/crds.js';
import { repoRoot } from '../support/tools.js';

const yamls = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
const crds = () =>
  crdFiles()
    .map((f) => basename(f))
    .sort();

type Admission = KubernetesObject & { spec: Record<string, unknown> };
const POLICY_KINDS = ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];

describe('chart: CRDs', () => {
  it('ships exactly the CRD files of crds/', () => {
    expect(yamls(join(chartDir, 'crds'))).toEqual(crds());
    expect(crds().length).toBeGreaterThan(0);
  });

  it.each(crds())('%s is byte-identical in the chart', (file) => {
    const source = readFileSync(join(repoRoot, 'crds', file));
    const copy = readFileSync(join(chartDir, 'crds', file));
    expect(copy.equals(source), `charts/oneclaw/crds/${file} differs from crds/${file}; copy it again`).toBe(
      true,
    );
  });

  it('renders the admission policy of crds/ under the release name, unless turned off', async () => {
    const source = (
      loadAllYaml(
        readFileSync(join(repoRoot, 'crds/secretsync-service-account-policy.yaml'), 'utf8'),
      ) as Admission[]
    ).filter(Boolean);
    const rendered = (await renderChart({ release: 'prod' })).filter((o) =>
      POLICY_KINDS.includes(o.kind ?? ''),
    ) as Admission[];
    expect(rendered.map((o) => o.kind)).toEqual(POLICY_KINDS);
    expect(source.map((o) => o.kind)).toEqual(POLICY_KINDS);
    const [policy, binding] = rendered as [Admission, Admission];
    const [sourcePolicy, sourceBinding] = source as [Admission, Admission];
    expect(policy.metadata?.name).toBe('prod-secretsync-service-account');
    expect(binding.metadata?.name).toBe('prod-secretsync-service-account');
    expect(policy.spec).toEqual(sourcePolicy.spec);
    expect(binding.spec).toEqual({ ...sourceBinding.spec, policyName: 'prod-secretsync-service-account' });

    const off = await renderChart({ values: { operator: { admissionPolicy: { enabled: false } } } });
    expect(off.filter((o) => POLICY_KINDS.includes(o.kind ?? ''))).toEqual([]);
  });
});
