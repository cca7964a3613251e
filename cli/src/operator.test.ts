// `oneclaw operator` as users start it: configuration problems stop it with exit code 2 and one
// line per problem, never a stack trace.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../test/support/tools.js';

const run = (env: Record<string, string>) =>
  promisify(execFile)(join(repoRoot, 'bin/oneclaw'), ['operator'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    timeout: 30_000,
  }).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );

describe('oneclaw operator', () => {
  it('refuses to start without an API URL, or with a misspelled or invalid variable, naming each', async () => {
    const missing = await run({});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('ONECLAW_API_URL: required (or run with --embedded-api)');

    const bad = await run({
      ONECLAW_API_URL: 'ftp://nope',
      ONECLAW_OPERATOR_NAMESPCE: 'typo',
      ONECLAW_OPERATOR_CONCURRENCY: '0',
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ONECLAW_API_URL: not a valid value');
    expect(bad.stderr).toContain('ONECLAW_OPERATOR_NAMESPCE: unknown variable (typo?)');
    expect(bad.stderr).toContain('ONECLAW_OPERATOR_CONCURRENCY: not a valid value');
    expect(bad.stderr).not.toContain('ftp://nope');
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
