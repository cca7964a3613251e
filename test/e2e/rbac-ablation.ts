// Least privilege, shown: renders the chart, takes away one permission (one verb on one resource
// of one rule) at a time, runs the e2e suite with that RBAC instead of the chart's, and reports
// which scenario failed. A permission whose removal fails nothing is one the chart does not need
// (or one the suite does not cover yet). Not part of `make test`: each run is a full suite.
//
//   node --import tsx test/e2e/rbac-ablation.ts                  # the representative permissions
//   node --import tsx test/e2e/rbac-ablation.ts --all            # every permission the chart grants
//   node --import tsx test/e2e/rbac-ablation.ts "events patch"   # those matching "<resource> <verb>"
//
// Writes the table (markdown) to stdout and to .scratch/rbac-ablation.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, versions } from '../support/tools.js';
import {
  isRbac,
  type Permission,
  permissionId,
  permissions,
  renderForInstall,
  toYaml,
  withoutPermission,
} from './chart.js';

const REPRESENTATIVE = [
  'secrets create',
  'serviceaccounts/token create',
  'tokenreviews create',
  'leases update',
];

interface SuiteReport {
  testResults: Array<{
    message?: string;
    assertionResults: Array<{ title: string; status: string; failureMessages: string[] }>;
  }>;
}

interface Outcome {
  passed: boolean;
  failedScenario: string;
  why: string;
  seconds: number;
}

/** The first line of a failure, and the apiserver's refusal if the processes' logs carry one. */
function explain(message: string): string {
  const first = (message.split('\n')[0] ?? '').replace(/^Error: /, '').slice(0, 140);
  const refusal = /User \\?"([^"\\]+)\\?" cannot (\w+) resource \\?"([^"\\]+)\\?"/.exec(message);
  return refusal ? `${first} (apiserver: ${refusal[1]} cannot ${refusal[2]} ${refusal[3]})` : first;
}

function runSuite(rbacFile: string | undefined): Outcome {
  const out = join(mkdtempSync(join(tmpdir(), 'oneclaw-ablation-')), 'report.json');
  const started = Date.now();
  spawnSync('npx', ['vitest', 'run', 'test/e2e', '--bail=1', '--reporter=json', `--outputFile=${out}`], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...(rbacFile ? { E2E_RBAC_MANIFEST: rbacFile } : {}) },
  });
  const seconds = Math.round((Date.now() - started) / 1000);
  let report: SuiteReport;
  try {
    report = JSON.parse(readFileSync(out, 'utf8')) as SuiteReport;
  } catch {
    return { passed: false, failedScenario: '(no report)', why: 'vitest wrote no report', seconds };
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
  const file = report.testResults[0];
  const failed = file?.assertionResults.find((t) => t.status === 'failed');
  if (failed) {
    return {
      passed: false,
      failedScenario: failed.title.split(':')[0] ?? failed.title,
      why: explain(failed.failureMessages[0] ?? ''),
      seconds,
    };
  }
  if (file?.message) return { passed: false, failedScenario: 'setup', why: explain(file.message), seconds };
  const all = file?.assertionResults ?? [];
  const passed = all.length > 0 && all.every((t) => t.status === 'passed');
  // No test failed, yet not all passed: the setup (the install, waiting for both processes to be
  // ready) failed or timed out before the first scenario.
  return {
    passed,
    failedScenario: passed ? '' : 'setup',
    why: passed ? '' : 'the installation never became ready; no scenario ran',
    seconds,
  };
}

function main(): void {
  const args = process.argv.slice(2);
  const objects = renderForInstall(`v${versions.KUBE_VERSION}`);
  const rbac = objects.filter(isRbac);
  const all = permissions(rbac);
  const label = (p: Permission) => `${p.resource} ${p.verb}`;
  const wanted = args.includes('--all') ? undefined : args.filter((a) => !a.startsWith('--'));
  const chosen = all.filter((p) =>
    wanted === undefined ? true : (wanted.length ? wanted : REPRESENTATIVE).includes(label(p)),
  );
  if (!chosen.length) throw new Error(`no permission of the chart matches ${JSON.stringify(wanted)}`);

  const dir = mkdtempSync(join(tmpdir(), 'oneclaw-ablation-rbac-'));
  const rows: string[] = [];
  process.stderr.write(`baseline: the chart's RBAC as rendered\n`);
  const baseline = runSuite(undefined);
  if (!baseline.passed) {
    throw new Error(
      `the suite fails with the chart's own RBAC (${baseline.failedScenario}: ${baseline.why})`,
    );
  }
  for (const p of chosen) {
    process.stderr.write(`without ${permissionId(p)}\n`);
    const file = join(dir, 'rbac.yaml');
    writeFileSync(file, toYaml(withoutPermission(rbac, p)));
    const o = runSuite(file);
    const result = o.passed ? '**nothing fails: not needed by the suite**' : `fails: ${o.failedScenario}`;
    rows.push(
      `| ${p.kind} \`${p.name}\` | \`${p.apiGroup || 'core'}\` | \`${p.resource}\` | \`${p.verb}\` | ${result} | ${o.why.replaceAll('|', '\\|')} | ${o.seconds}s |`,
    );
    process.stderr.write(`  ${result} ${o.why}\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  const table = [
    `Baseline (the chart's RBAC as rendered): all scenarios pass (${baseline.seconds}s).`,
    '',
    '| role | API group | resource | verb removed | result | first failure | run |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  mkdirSync(join(repoRoot, '.scratch'), { recursive: true });
  writeFileSync(join(repoRoot, '.scratch/rbac-ablation.md'), table);
  process.stdout.write(table);
}

main();
