// Renders charts/oneclaw with the helm built by hack/setup.sh, for the chart checks and the e2e
// suite. `renderChart` returns the parsed objects; the chart refuses to render without an
// external database, so callers that only want RBAC get a placeholder Secret name by default.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type KubernetesObject, loadAllYaml } from '@kubernetes/client-node';
import { repoRoot, tools, versions } from './tools.js';

const run = promisify(execFile);

export const chartDir = join(repoRoot, 'charts/oneclaw');

/** What helm renders against: the control plane's version, not helm's built-in default. */
export const chartKubeVersion = (): string => versions.KUBE_VERSION ?? '1.35.4';

/** Values every render needs (the chart requires an external database Secret). */
export const minimalValues = (): Record<string, unknown> => ({
  database: { existingSecret: 'oneclaw-database' },
  kms: { backend: 'local', key: 'local://prod', local: { existingSecret: 'oneclaw-local-kms' } },
  signing: { key: 'local://jwt', existingSecret: 'oneclaw-signing-key' },
});

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** Merged over minimalValues() by helm (later files win). */
  values?: Record<string, unknown>;
  /** Leave out minimalValues(), e.g. to check that the chart refuses to render. */
  bare?: boolean;
  /** Passed as --show-only (template paths such as templates/rbac-operator.yaml). */
  showOnly?: string[];
  /** Also render charts/oneclaw/crds/ (helm template --include-crds). */
  includeCrds?: boolean;
}

/** Runs a helm command; rejects with helm's stderr as the message. */
export async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(tools.helm(), args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error((e.stderr || e.message).trim());
  }
}

function valuesFiles(opts: RenderOptions): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'oneclaw-chart-'));
  const files: string[] = [];
  const layers = [...(opts.bare ? [] : [minimalValues()]), ...(opts.values ? [opts.values] : [])];
  layers.forEach((v, i) => {
    const f = join(dir, `values-${i}.json`);
    writeFileSync(f, JSON.stringify(v));
    files.push('-f', f);
  });
  return files;
}

/** `helm template` output as text. */
export async function renderChartText(opts: RenderOptions = {}): Promise<string> {
  return helm([
    'template',
    opts.release ?? 'oneclaw',
    chartDir,
    '--namespace',
    opts.namespace ?? 'oneclaw-system',
    '--kube-version',
    chartKubeVersion(),
    ...(opts.includeCrds ? ['--include-crds'] : []),
    ...(opts.showOnly ?? []).flatMap((t) => ['--show-only', t]),
    ...valuesFiles(opts),
  ]);
}

/** `helm template` output as objects (empty documents dropped). */
export async function renderChart(opts: RenderOptions = {}): Promise<KubernetesObject[]> {
  const text = await renderChartText(opts);
  return (loadAllYaml(text) as Array<KubernetesObject | null>).filter(
    (o): o is KubernetesObject => o !== null && typeof o === 'object' && 'kind' in o,
  );
}

/** `helm lint` with the same values; resolves to its output, rejects on a failed lint. */
export async function lintChart(opts: Pick<RenderOptions, 'values' | 'bare'> = {}): Promise<string> {
  return helm(['lint', '--strict', chartDir, '--kube-version', chartKubeVersion(), ...valuesFiles(opts)]);
}
