// `oneclaw server` as a user runs it: a real process, configured by environment, on the
// embedded dev database or on PostgreSQL; it prints the one-time admin key, serves the API,
// fails closed on a bad KMS, and stops cleanly on SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../../test/support/db.js';
import { freePort } from '../../test/support/ports.js';
import { repoRoot } from '../../test/support/tools.js';

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(env: Record<string, string>): Proc {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ONECLAW_')));
  const child = spawn(join(repoRoot, 'bin/oneclaw'), ['server'], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: new Promise((r) => child.once('exit', (code) => r(code))),
  };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const started: Proc[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const p of started) p.child.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function api(base: string, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('oneclaw server', () => {
  it('runs on the embedded dev database, prints the admin key once, and keeps data across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'oneclaw-cli-'));
    dirs.push(dataDir);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { ONECLAW_DATA_DIR: dataDir, ONECLAW_LISTEN: `127.0.0.1:${port}` };

    const first = run(env);
    started.push(first);
    await waitFor('admin key', () => /ocu_[A-Za-z0-9_-]{40,}/.test(first.stderr()));
    const adminKey = (/ocu_[A-Za-z0-9_-]{40,}/.exec(first.stderr()) as RegExpExecArray)[0];
    expect(first.stdout()).not.toContain(adminKey); // the log stream never carries it
    const token = (await api(base, 'POST', '/v1/auth/token', { api_key: adminKey })).body
      .access_token as string;
    const vault = await api(base, 'POST', '/v1/vaults', { name: 'dev' }, token);
    expect(vault.status).toBe(201);
    const put = await api(
      base,
      'PUT',
      `/v1/vaults/${vault.body.id}/secrets/app/key`,
      { type: 'api_key', value: 'persisted' },
      token,
    );
    expect(put.status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = run(env);
    started.push(second);
    await waitFor('listening', () => second.stdout().includes('Server listening'));
    expect(second.stderr()).not.toMatch(/Admin API key/);
    const token2 = (await api(base, 'POST', '/v1/auth/token', { api_key: adminKey })).body
      .access_token as string;
    const got = await api(base, 'GET', `/v1/vaults/${vault.body.id}/secrets/app/key`, undefined, token2);
    expect(got.body.value).toBe('persisted');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('runs on PostgreSQL in the production profile and logs its KMS and signing key', async () => {
    const db = await migratedDatabase();
    const dataDir = mkdtempSync(join(tmpdir(), 'oneclaw-cli-'));
    dirs.push(dataDir);
    const { generateLocalSigningKeyPem } = await import('../../api/src/kms/backends/local-signer.js');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dataDir, 'jwt.pem'), generateLocalSigningKeyPem());
    const port = await freePort();
    const p = run({
      ONECLAW_DATABASE_URL: db.url,
      ONECLAW_KMS_KEY: 'local://main',
      ONECLAW_LOCAL_MASTER_KEY: randomBytes(32).toString('base64'),
      ONECLAW_SIGNING_KEY_FILE: join(dataDir, 'jwt.pem'),
      ONECLAW_LISTEN: `127.0.0.1:${port}`,
    });
    started.push(p);
    try {
      await waitFor('listening', () => p.stdout().includes('Server listening'));
      const lines = p
        .stdout()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.find((l) => l.msg === 'KMS ready')).toMatchObject({ backend: 'local' });
      expect(lines.some((l) => l.level === 40 && /local KMS backend/.test(String(l.msg)))).toBe(true);
      expect(lines.find((l) => l.msg === 'token signing key ready')).toMatchObject({ alg: 'EdDSA' });
      expect((await api(`http://127.0.0.1:${port}`, 'GET', '/readyz')).status).toBe(200);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await db.drop();
    }
  });

  it('refuses to start, with a clear message, on bad configuration or an unreachable KMS', async () => {
    const bad = run({ ONECLAW_LISTEN: 'nowhere', ONECLAW_KMS_KEY: 'vault://x' });
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/ONECLAW_LISTEN: expected host:port/);
    expect(bad.stderr()).toMatch(
      /ONECLAW_KMS_KEY: invalid KMS key URI "vault:\/\/x": unknown scheme "vault"/,
    );

    const dataDir = mkdtempSync(join(tmpdir(), 'oneclaw-cli-'));
    dirs.push(dataDir);
    const kmsPort = await freePort();
    const down = run({
      ONECLAW_DATA_DIR: dataDir,
      ONECLAW_LISTEN: `127.0.0.1:${await freePort()}`,
      ONECLAW_KMS_KEY: 'transit://transit/oneclaw',
      ONECLAW_TRANSIT_ADDR: `http://127.0.0.1:${kmsPort}`,
      ONECLAW_TRANSIT_TOKEN: 'do-not-print-me',
    });
    started.push(down);
    expect(await down.exited).toBe(1);
    expect(down.stderr()).toMatch(/KMS key transit:\/\/transit\/oneclaw is not usable, refusing to start/);
    expect(down.stderr() + down.stdout()).not.toContain('do-not-print-me');
  });
});
