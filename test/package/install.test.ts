// The package as people install it: `npm pack` (its prepack builds dist/ when stale), installed
// from the tarball into an empty project, then the SDK imported through its `oneclaw/sdk` export,
// a TypeScript consumer type-checked against the shipped declarations, and the CLI run through
// its bin. The install skips dependency install scripts: the one that builds (the PKCS#11 addon)
// is built by `make setup` and the image from the same lockfile, and neither the SDK nor
// `--version` loads it.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/tools.js';

const run = promisify(execFile);
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;

describe('package: pack, install into an empty project, use', () => {
  const work = mkdtempSync(join(tmpdir(), 'oneclaw-package-'));
  const project = join(work, 'project');
  let packed: string[] = [];

  beforeAll(async () => {
    const { stdout } = await run('npm', ['pack', '--json', '--silent', '--pack-destination', work], {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
    packed = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack wrote no tarball into ${work}`);
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      '{ "name": "consumer", "private": true, "type": "module" }\n',
    );
    await run(
      'npm',
      [
        'install',
        join(work, tarball),
        '--prefer-offline',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
      ],
      { cwd: project, maxBuffer: 16 * 1024 * 1024 },
    );
  }, 300_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('ships compiled code with declarations and the SQL migrations, and no sources or tests', () => {
    for (const f of [
      'dist/cli/src/main.js',
      'dist/sdk/src/index.js',
      'dist/sdk/src/index.d.ts',
      'package.json',
    ])
      expect(packed).toContain(f);
    expect(packed.some((f) => /^dist\/api\/src\/db\/migrations\/.+\.sql$/.test(f))).toBe(true);
    expect(packed.filter((f) => /(?<!\.d)\.ts$|\.test\.|\.map$|^(test|hack|bench)\//.test(f))).toEqual([]);
  });

  it('imports the SDK from oneclaw/sdk', async () => {
    writeFileSync(
      join(project, 'consumer.mjs'),
      `import { createClient, generateCmekKey, cmekFingerprint, SDK_VERSION } from 'oneclaw/sdk';
const client = createClient({ baseUrl: 'http://127.0.0.1:1', credentials: { apiKey: 'k' } });
const fingerprint = await cmekFingerprint(await generateCmekKey());
console.log(JSON.stringify({ version: SDK_VERSION, put: typeof client.secrets.put, fingerprint }));
`,
    );
    const { stdout } = await run(process.execPath, ['consumer.mjs'], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({
      version,
      put: 'function',
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('type-checks a TypeScript consumer against the shipped declarations', async () => {
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { createClient, type OneclawClient } from 'oneclaw/sdk';
const client: OneclawClient = createClient({ baseUrl: 'https://oneclaw.example.com', credentials: { apiKey: 'k' } });
export const put = client.secrets.put;
// @ts-expect-error the declarations are real types, not any: baseUrl is a string
createClient({ baseUrl: 1, credentials: { apiKey: 'k' } });
// @ts-expect-error and so are the operations': a secret's path is a string
void client.secrets.get('vault-id', 42);
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          // As most consumers set it: checking every dependency's declarations takes a minute.
          // A type the SDK's declarations cannot resolve becomes any, which the consumer's two
          // expected errors turn into a failure.
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(repoRoot, 'node_modules/@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? String(err) }),
    );
    expect(result.stdout).toBe('');
  });

  it('runs the CLI through its bin', async () => {
    const { stdout } = await run('npx', ['--no-install', 'oneclaw', '--version'], { cwd: project });
    expect(stdout.trim()).toBe(version);
  });
});
