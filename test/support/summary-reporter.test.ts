// The closing `vitest:` line is what tooling reads instead of the exit code, so a failure that is
// not a failing test (a hook that threw) must count there too.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './tools.js';

const dir = join(repoRoot, '.scratch', `summary-reporter-${process.pid}`);

async function summaryOf(files: Record<string, string>): Promise<{ code: number; line: string }> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  // A config of its own: the repository's excludes .scratch/ and starts the peer broker.
  writeFileSync(join(dir, 'vitest.config.mjs'), 'export default {};\n');
  const run = promisify(execFile)(
    join(repoRoot, 'node_modules/.bin/vitest'),
    [
      'run',
      '--config',
      join(dir, 'vitest.config.mjs'),
      '--reporter',
      join(repoRoot, 'test/support/summary-reporter.ts'),
    ],
    { cwd: dir, env: { ...process.env, CI: 'true' } },
  );
  const { code, stdout } = await run.then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
  );
  return { code, line: stdout.split('\n').find((l) => l.startsWith('vitest: ')) ?? stdout };
}

describe('summary reporter', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts a throwing afterAll as a failure, though every test passed', async () => {
    const r = await summaryOf({
      'hook.test.ts': `import { afterAll, it } from 'vitest';
afterAll(() => { throw new Error('found after the tests'); });
it('passes', () => {});
`,
      'fine.test.ts': `import { it } from 'vitest';
it('passes too', () => {});
`,
    });
    expect(r.code).not.toBe(0);
    expect(r.line).toBe('vitest: 2 passed, 1 failed, 0 skipped');
  }, 60_000);

  it('counts failing tests once each, and a file that does not load as one', async () => {
    const r = await summaryOf({
      'tests.test.ts': `import { it } from 'vitest';
it('fails', () => { throw new Error('no'); });
it('fails again', () => { throw new Error('no'); });
it('passes', () => {});
`,
      'broken.test.ts': `throw new Error('does not load');
`,
    });
    expect(r.line).toBe('vitest: 1 passed, 3 failed, 0 skipped');
  }, 60_000);
});
