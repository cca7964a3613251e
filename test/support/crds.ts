// Installs what crds/ holds on a test control plane — the oneclaw CRDs and the SecretSync
// admission policy — idempotently (server-side apply, so test files applying them at the same
// time do not conflict), and waits until the CRDs serve.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeInfo } from './peers/kube.js';
import { repoRoot, tools } from './tools.js';

const run = promisify(execFile);

/** The files of crds/ that define CRDs (the others hold objects without an Established condition). */
export function crdFiles(): string[] {
  const dir = join(repoRoot, 'crds');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .filter((f) => /^kind: CustomResourceDefinition$/m.test(readFileSync(join(dir, f), 'utf8')))
    .map((f) => join(dir, f));
}

export async function installCrds(kube: KubeInfo): Promise<void> {
  const kubectl = (...args: string[]) => run(tools.kubectl(), ['--kubeconfig', kube.kubeconfig, ...args]);
  await kubectl(
    'apply',
    '--server-side',
    '--force-conflicts',
    '--field-manager=oneclaw-tests',
    '-f',
    join(repoRoot, 'crds'),
  );
  await kubectl(
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    ...crdFiles().flatMap((f) => ['-f', f]),
  );
}
