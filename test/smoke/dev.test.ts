// `make dev` is the README's first command; this keeps it working. `--once` starts the whole
// local environment and the product, syncs the sample, prints how to reach it and stops.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cacheDir, repoRoot } from '../support/tools.js';

describe('make dev', () => {
  it('brings up the control plane, the API, the operator and every peer, syncs the sample, and stops', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'hack/dev.ts', '--once'],
      {
        cwd: repoRoot,
        timeout: 170_000,
      },
    );
    for (const peer of ['kube', 'postgres', 'openbao', 'moto', 'gcp-kms', 'softhsm']) {
      expect(stdout).toMatch(new RegExp(`${peer}\\s+up in \\d+ ms`));
    }
    expect(stdout).toMatch(/kube-system\s+Active/);
    // The product runs: the operator synced the sample secret into a Kubernetes Secret.
    expect(stdout).toMatch(/The sample is synced \(\d+ ms from kubectl apply\)/);
    expect(stdout).toMatch(/oneclawvault\.oneclaw\.dev\/demo\s+True\s+[0-9a-f-]{36}\s+1/);
    expect(stdout).toMatch(/secretsync\.oneclaw\.dev\/web-secrets\s+demo\s+web-secrets\s+True/);
    expect(stdout).toMatch(/DB_PASSWORD:\s+\d+ bytes/);
    expect(stdout).toContain('dev environment check passed; stopped');
    const env = readFileSync(join(cacheDir, 'dev.env'), 'utf8');
    expect(env).toMatch(/^export KUBECONFIG=\/.+kubeconfig$/m);
    expect(env).toMatch(/^export ONECLAW_DATABASE_URL=postgres:\/\/.+$/m);
  }, 180_000);
});
