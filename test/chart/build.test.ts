// The compile step the container image relies on (Dockerfile: `npm run build`, then
// `node dist/cli/src/main.js`). No container engine runs here, so this checks the image's
// contents instead: the build emits the entry point and no tests (nothing in it imports a
// development dependency such as vitest), ships the SQL migrations the server reads at run time,
// and the compiled server starts in the production profile against a real PostgreSQL, migrates
// it and reports ready.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedPeer } from '../support/fixtures.js';
import { createDatabase } from '../support/peers/postgres.js';
import { freePort } from '../support/ports.js';
import { type ManagedProcess, spawnManaged, waitFor } from '../support/proc.js';
import { repoRoot } from '../support/tools.js';

const run = promisify(execFile);
const dist = join(repoRoot, 'dist');
const entry = join(dist, 'cli/src/main.js');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)));
}

describe('build: what the container image runs', () => {
  let server: ManagedProcess | undefined;
  let dropDb: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await run('npm', ['run', 'build'], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    await dropDb?.();
  });

  it('emits the API, operator, SDK and CLI as JavaScript, without tests', () => {
    const files = filesUnder(dist);
    for (const f of ['cli/src/main.js', 'api/src/server.js', 'operator/src/operator.js', 'sdk/src/index.js'])
      expect(files).toContain(f);
    expect(files.filter((f) => /\.test\.js$|test-helpers/.test(f))).toEqual([]);
    expect(
      files.filter((f) => f.startsWith('test/') || f.startsWith('bench/') || f.startsWith('hack/')),
    ).toEqual([]);
  });

  it('imports no development dependency (vitest, fast-check, …): the image prunes them', () => {
    // npm prune --omit=dev leaves them out of the runtime image, so a compiled module importing
    // one (a test helper such as the KMS conformance suite) would fail there at load time.
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const dev = Object.keys(pkg.devDependencies).filter((d) => !d.startsWith('@types/'));
    expect(dev).toContain('vitest');
    const specifier = /\b(?:from|import|require)\s*\(?\s*['"]([^'"]+)['"]/g;
    const offenders: string[] = [];
    for (const f of filesUnder(dist).filter((f) => f.endsWith('.js'))) {
      for (const [, spec] of readFileSync(join(dist, f), 'utf8').matchAll(specifier)) {
        if (dev.some((d) => spec === d || spec?.startsWith(`${d}/`)) || spec?.startsWith('@vitest/'))
          offenders.push(`${f}: ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
    expect(filesUnder(dist).filter((f) => /(^|\/)conformance\.js$/.test(f))).toEqual([]);
  });

  it('ships the SQL migrations next to the compiled migration runner', () => {
    const source = join(repoRoot, 'api/src/db/migrations');
    const built = join(dist, 'api/src/db/migrations');
    const names = readdirSync(source).sort();
    expect(readdirSync(built).sort()).toEqual(names);
    for (const n of names)
      expect(readFileSync(join(built, n)).equals(readFileSync(join(source, n)))).toBe(true);
  });

  it('answers --help with the server and operator commands', async () => {
    const { stdout } = await run(process.execPath, [entry, '--help']);
    expect(stdout).toMatch(/^Usage: oneclaw/);
    expect(stdout).toMatch(/\n\s+server\s/);
    expect(stdout).toMatch(/\n\s+operator\s/);
  });

  it('starts the compiled server as the chart configures it, migrates PostgreSQL and turns ready', async () => {
    const db = await createDatabase(await sharedPeer('postgres'), 'build');
    dropDb = db.drop;
    const dir = mkdtempSync(join(tmpdir(), 'oneclaw-build-'));
    writeFileSync(join(dir, 'master-key'), randomBytes(32).toString('base64'), { mode: 0o600 });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'signing-key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    const port = await freePort();
    server = spawnManaged({
      name: 'oneclaw-dist-server',
      command: process.execPath,
      args: [entry, 'server'],
      logFile: join(dir, 'server.log'),
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        ONECLAW_PROFILE: 'production',
        ONECLAW_LISTEN: `127.0.0.1:${port}`,
        ONECLAW_DATA_DIR: join(dir, 'data'),
        ONECLAW_DATABASE_URL: db.url,
        ONECLAW_KMS_KEY: 'local://prod',
        ONECLAW_LOCAL_MASTER_KEY_FILE: join(dir, 'master-key'),
        ONECLAW_SIGNING_KEY: 'local://jwt',
        ONECLAW_SIGNING_KEY_FILE: join(dir, 'signing-key.pem'),
        ONECLAW_BOOTSTRAP_ADMIN_KEY: `ocu_${randomBytes(24).toString('base64url')}`,
      },
    });
    const ready = await waitFor(
      'the compiled server to be ready',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        return res.status === 200 ? res.status : undefined;
      },
      { process: server, timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(ready).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    // The migrations it ran are the ones shipped in dist/.
    const { stdout } = await run('psql', [db.url, '-Atc', 'select name from oneclaw_migrations order by id']);
    expect(stdout.trim().split('\n')).toEqual(
      readdirSync(join(dist, 'api/src/db/migrations'))
        .map((f) => f.replace(/\.sql$/, ''))
        .sort(),
    );
  }, 120_000);
});
