// Installs the oneclaw CRDs from crds/ on a test control plane, idempotently (server-side apply,
// so test files applying them at the same time do not conflict), and waits until they serve.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeInfo } from './peers/kube.js';
import { repoRoot, tools } from './tools.js';

const run = promisify(execFile);

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
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', '-f', join(repoRoot, 'crds'));
}
