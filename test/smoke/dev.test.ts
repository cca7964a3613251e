// `make dev` is the README's first command; this keeps it working. `--once` starts the whole
// local environment, checks it with kubectl, prints how to reach it and stops.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cacheDir, repoRoot } from '../support/tools.js';

describe('make dev', () => {
  it('brings up the control plane and every peer, prints how to reach them, and stops', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'hack/dev.ts', '--once'],
      {
        cwd: repoRoot,
        timeout: 120_000,
      },
    );
    for (const peer of ['kube', 'postgres', 'openbao', 'moto', 'gcp-kms', 'softhsm']) {
      expect(stdout).toMatch(new RegExp(`${peer}\\s+up in \\d+ ms`));
    }
    expect(stdout).toMatch(/kube-system\s+Active/);
    expect(stdout).toContain('dev environment check passed; stopped');
    const env = readFileSync(join(cacheDir, 'dev.env'), 'utf8');
    expect(env).toMatch(/^export KUBECONFIG=\/.+kubeconfig$/m);
    expect(env).toMatch(/^export ONECLAW_DATABASE_URL=postgres:\/\/.+$/m);
  });
});
