// The human `oneclaw` commands end to end: spawned processes against a real, listening API,
// asserting what a user and a script see — stdout, stderr, exit codes, file modes. Each spawn
// costs about a second (tsx), so each test groups many assertions.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi, testApiForSuite } from '../../test/support/api.js';
import { type CliResult, runCli, spawnCli } from '../../test/support/cli-run.js';

let api: TestApi;
let server: string;
const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

/** A user's environment: its own config directory, the API URL. */
const userEnv = (configDir: string, extra: Record<string, string> = {}) => ({
  ONECLAW_CONFIG_DIR: configDir,
  ONECLAW_API_URL: server,
  ...extra,
});

/** A failure as the CLI must print it: one line, the API's code, no stack. */
function expectOneLineError(r: CliResult, exitCode: number, code?: string): void {
  expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: exitCode });
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^oneclaw: /);
  if (code) {
    expect(lines[0]).toContain(`code ${code}`);
    expect(lines[0]).toMatch(/request [\w-]+/);
  }
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  api = await startTestApi({ ONECLAW_AUTH_RATE_LIMIT: '0' }, { listen: true });
  server = api.server.url as string;
});
afterAll(async () => {
  await api?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('oneclaw (human commands)', () => {
  let admin: Record<string, string>;
  let vaultName: string;

  beforeAll(async () => {
    const dir = join(tmp('oneclaw-cli-'), 'config');
    admin = userEnv(dir);
    vaultName = `cli-${Date.now().toString(36)}`;
  });

  it('logs in from stdin, stores credentials 0600, and reads and writes secrets', async () => {
    const login = await runCli(['login'], { env: admin, input: `${api.adminKey}\n` });
    expect({ code: login.code, stderr: login.stderr }).toEqual({ code: 0, stderr: '' });
    expect(login.stdout).toContain(`logged in to:  ${server}`);
    expect(login.stdout).not.toContain(api.adminKey);
    const file = join(admin.ONECLAW_CONFIG_DIR as string, 'credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(admin.ONECLAW_CONFIG_DIR as string).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    expect(stored).toMatchObject({ server, api_key: api.adminKey, access_token: expect.any(String) });
    expect(stored.principal).toMatch(/^user:/);

    const created = await runCli(
      ['vault', 'create', vaultName, '--description', 'from the CLI', '-o', 'json'],
      {
        env: admin,
      },
    );
    expect(created.code).toBe(0);
    const vault = JSON.parse(created.stdout) as { id: string; name: string; cmek_enabled: boolean };
    expect(vault).toMatchObject({ name: vaultName, cmek_enabled: false });

    const list = await runCli(['vault', 'list'], { env: admin });
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+CUSTODY\s+KEK\s+CMEK\s+CREATED$/);
    expect(list.stdout).toContain(vaultName);

    // Values from stdin (one trailing newline dropped) or a file (byte for byte), never argv.
    const put = await runCli(['secret', 'put', vaultName, 'app/db/password'], {
      env: admin,
      input: 's3cret pw\n',
    });
    expect({ code: put.code, out: put.stdout }).toEqual({
      code: 0,
      out: 'wrote app/db/password version 1\n',
    });
    const valueFile = join(tmp('oneclaw-val-'), 'v.txt');
    writeFileSync(valueFile, 'line one\nline two\n');
    const putFile = await runCli(
      [
        'secret',
        'put',
        vault.id,
        'app/config',
        '--file',
        valueFile,
        '-t',
        'note',
        '-m',
        'owner=cli',
        '--cas',
        '0',
      ],
      { env: admin },
    );
    expect(putFile.code).toBe(0);

    const get = await runCli(['secret', 'get', vaultName, 'app/db/password'], { env: admin });
    expect({ code: get.code, out: get.stdout }).toEqual({ code: 0, out: 's3cret pw' });
    const getJson = await runCli(['secret', 'get', vaultName, 'app/config', '--output', 'json'], {
      env: admin,
    });
    expect(JSON.parse(getJson.stdout)).toMatchObject({
      path: 'app/config',
      type: 'note',
      value: 'line one\nline two\n',
      version: 1,
      metadata: { owner: 'cli' },
      cmek_encrypted: false,
    });

    const put2 = await runCli(['secret', 'put', vaultName, 'app/db/password', '--cas', '1'], {
      env: admin,
      input: 'second',
    });
    expect(put2.code).toBe(0);
    const old = await runCli(['secret', 'get', vaultName, 'app/db/password', '--version', '1'], {
      env: admin,
    });
    expect(old.stdout).toBe('s3cret pw');
    const versions = await runCli(['secret', 'versions', vaultName, 'app/db/password', '-o', 'json'], {
      env: admin,
    });
    expect((JSON.parse(versions.stdout) as Array<{ version: number }>).map((v) => v.version).sort()).toEqual([
      1, 2,
    ]);
    const secrets = await runCli(['secret', 'list', vaultName, '--prefix', 'app'], { env: admin });
    expect(secrets.stdout).toMatch(/^PATH\s+TYPE\s+VERSION\s+CMEK\s+UPDATED\n/);
    expect(secrets.stdout).toMatch(/app\/db\/password\s+password\s+2\s+no/);
    expect(secrets.stdout).not.toContain('second');

    // Failures: one line with the API's code and request id, and a code a script can test.
    expectOneLineError(
      await runCli(['secret', 'get', vaultName, 'app/nope'], { env: admin }),
      5,
      'not_found',
    );
    expectOneLineError(
      await runCli(['secret', 'put', vaultName, 'app/db/password', '--cas', '1'], { env: admin, input: 'x' }),
      6,
      'conflict',
    );
    expectOneLineError(await runCli(['vault', 'get', 'no-such-vault'], { env: admin }), 5);
    const usage = await runCli(['secret', 'frobnicate'], { env: admin });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("unknown command 'frobnicate'");
    expectOneLineError(
      await runCli(['secret', 'delete', vaultName, 'app/config', '--destroy'], { env: admin }),
      2,
    );
    const del = await runCli(['secret', 'delete', vaultName, 'app/config', '-o', 'json'], { env: admin });
    expect(JSON.parse(del.stdout)).toEqual({ path: 'app/config', deleted: true, destroyed: false });
  });

  it('creates an agent, grants it paths, and the agent logs in and is held to its grant', async () => {
    const created = await runCli(['agent', 'create', `bot-${Date.now().toString(36)}`, '-o', 'json'], {
      env: admin,
    });
    expect(created.code).toBe(0);
    const { agent, api_key } = JSON.parse(created.stdout) as { agent: { id: string }; api_key: string };
    expect(api_key).toMatch(/^ocv_/);

    const grant = await runCli(
      ['policy', 'grant', vaultName, '--agent', agent.id, '--path', 'app/db/*', '--permissions', 'read,list'],
      { env: admin },
    );
    expect(grant.code).toBe(0);
    const policyId = (/^policy:\s+(\S+)$/m.exec(grant.stdout) as RegExpExecArray)[1] as string;
    const policies = await runCli(['policy', 'list', vaultName, '-o', 'json'], { env: admin });
    expect(JSON.parse(policies.stdout)).toEqual([
      expect.objectContaining({ id: policyId, principal_id: agent.id, permissions: ['read', 'list'] }),
    ]);

    // The agent: key in a file, never on argv; an agent key needs its id.
    const agentEnv = userEnv(join(tmp('oneclaw-agent-'), 'config'));
    const keyFile = join(tmp('oneclaw-key-'), 'agent.key');
    writeFileSync(keyFile, `${api_key}\n`, { mode: 0o600 });
    expectOneLineError(await runCli(['login', '--api-key-file', keyFile], { env: agentEnv }), 2);
    const login = await runCli(
      ['login', '--api-key-file', keyFile, '--agent-id', agent.id, '--no-store-key'],
      {
        env: agentEnv,
      },
    );
    expect(login.code).toBe(0);
    const stored = JSON.parse(
      readFileSync(join(agentEnv.ONECLAW_CONFIG_DIR as string, 'credentials.json'), 'utf8'),
    );
    expect(stored).not.toHaveProperty('api_key');
    expect(stored.principal).toBe(`agent:${agent.id}`);

    const vaultId = JSON.parse(
      (await runCli(['vault', 'get', vaultName, '-o', 'json'], { env: admin })).stdout,
    ).id;
    const allowed = await runCli(['secret', 'get', vaultId, 'app/db/password'], { env: agentEnv });
    expect({ code: allowed.code, out: allowed.stdout }).toEqual({ code: 0, out: 'second' });
    expectOneLineError(
      await runCli(['secret', 'put', vaultId, 'app/db/password'], { env: agentEnv, input: 'nope' }),
      4,
      'forbidden',
    );
    expectOneLineError(await runCli(['agent', 'list'], { env: agentEnv }), 4, 'admin_required');

    // Revoking the grant stops it at once; rotating the key revokes the agent's tokens.
    expect((await runCli(['policy', 'revoke', vaultName, policyId], { env: admin })).code).toBe(0);
    expectOneLineError(await runCli(['secret', 'get', vaultId, 'app/db/password'], { env: agentEnv }), 4);
    const rotated = await runCli(['agent', 'rotate-key', agent.id], { env: admin });
    expect(rotated.stdout).toMatch(/API key \(shown once, store it now\):\n {2}ocv_\S+\n/);
    expectOneLineError(await runCli(['vault', 'list'], { env: agentEnv }), 3, 'principal_revoked');
    const agents = await runCli(['agent', 'list', '-o', 'json'], { env: admin });
    expect((JSON.parse(agents.stdout) as Array<{ id: string }>).map((a) => a.id)).toContain(agent.id);
    expect((await runCli(['agent', 'delete', agent.id], { env: admin })).code).toBe(0);

    // Log out: the file is gone, and commands say how to log in.
    const out = await runCli(['logout'], { env: agentEnv });
    expect(out.stdout).toMatch(/^removed .*credentials\.json\n$/);
    const after = await runCli(['vault', 'list'], { env: agentEnv });
    expectOneLineError(after, 3);
    expect(after.stderr).toContain('oneclaw login');
    // A wrong key: 401, exit 3, the key never echoed.
    const bad = await runCli(['login'], {
      env: agentEnv,
      input: 'ocu_not-a-real-key-at-all-0000000000000000',
    });
    expectOneLineError(bad, 3, 'invalid_credentials');
    expect(bad.stderr).not.toContain('not-a-real-key');
  });

  it('tails and verifies the audit log, rotates a KEK and migrates KMS keys with --wait', async () => {
    const tail = await runCli(['audit', 'tail', '-n', '5', '-o', 'json'], { env: admin });
    expect(tail.code).toBe(0);
    const events = JSON.parse(tail.stdout) as Array<{ seq: string; action: string }>;
    expect(events.length).toBe(5);
    const human = await runCli(['audit', 'tail', '-n', '3', '--vault', vaultName], { env: admin });
    expect(human.stdout.trim().split('\n')).toHaveLength(3);
    const verify = await runCli(['audit', 'verify'], { env: admin });
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/audit chain:\s+intact/);

    const kek = await runCli(['vault', 'rotate-kek', vaultName, '--wait', '-o', 'json'], { env: admin });
    expect({ code: kek.code, job: JSON.parse(kek.stdout) }).toMatchObject({
      code: 0,
      job: { status: 'succeeded' },
    });
    expect(kek.stderr).toMatch(/rotating KEK: \d+\/\d+ \(\d+%\)/);

    const kms = await runCli(['kms', 'migrate', '--vault', vaultName, '--wait'], { env: admin });
    expect({ code: kms.code, err: kms.stderr }).toMatchObject({ code: 0 });
    expect(kms.stdout).toMatch(/kind:\s+kms-migrate/);
    expect(kms.stdout).toMatch(/status:\s+succeeded/);
  });

  it('a missing subcommand is a usage error (help on stderr, exit 2); --help exits 0', async () => {
    const [bare, secret, help, secretHelp] = await Promise.all([
      runCli([]),
      runCli(['secret']),
      runCli(['--help']),
      runCli(['secret', '--help']),
    ]);
    expect({ code: bare.code, out: bare.stdout }).toEqual({ code: 2, out: '' });
    expect(bare.stderr).toContain('Usage: oneclaw [options] [command]');
    expect({ code: secret.code, out: secret.stdout }).toEqual({ code: 2, out: '' });
    expect(secret.stderr).toContain('Usage: oneclaw secret');
    expect({ code: help.code, err: help.stderr }).toEqual({ code: 0, err: '' });
    expect(help.stdout).toContain('Usage: oneclaw [options] [command]');
    expect({ code: secretHelp.code, err: secretHelp.stderr }).toEqual({ code: 0, err: '' });
    expect(secretHelp.stdout).toContain('Usage: oneclaw secret');
  });

  it('prints completion scripts for bash, zsh and fish from the command tree', async () => {
    const [bash, zsh, fish, bad] = await Promise.all([
      runCli(['completion', 'bash']),
      runCli(['completion', 'zsh']),
      runCli(['completion', 'fish']),
      runCli(['completion', 'tcsh']),
    ]);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -o default -F _oneclaw_completion oneclaw');
    expect(bash.stdout).toContain('"secret put") words="--file -f --type -t');
    expect(bash.stdout).toMatch(/"cmek"\) words="generate-key fingerprint enable disable rotate /);
    execFileSync('bash', ['-n'], { input: bash.stdout }); // valid bash
    // Completing `oneclaw secret g` and `oneclaw cmek rotate --o` in a real bash.
    const complete = (line: string) =>
      execFileSync('bash', [
        '-c',
        `${bash.stdout}\nCOMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _oneclaw_completion; echo "\${COMPREPLY[@]}"`,
      ])
        .toString()
        .trim();
    expect(complete('oneclaw secret g')).toBe('get');
    expect(complete('oneclaw cmek rotate --o')).toBe('--old-key-file --output');
    expect(zsh.stdout).toMatch(/^#compdef oneclaw\n/);
    expect(zsh.stdout).toContain('bashcompinit');
    expect(fish.stdout).toContain(
      "complete -c oneclaw -f -n '__fish_use_subcommand' -a vault -d 'manage vaults'",
    );
    expect(fish.stdout).toContain('-a rotate-kek');
    expect(bad.code).toBe(2);
  });
});

describe('oneclaw cmek', () => {
  it('generates keys 0600, encrypts on the client, rotates on the server with progress, and client-side', async () => {
    const env = userEnv(join(tmp('oneclaw-cmek-'), 'config'), { ONECLAW_API_KEY: api.adminKey });
    const keys = tmp('oneclaw-keys-');
    const [k1, k2, k3] = ['one', 'two', 'three'].map((n) => join(keys, `${n}.key`)) as [
      string,
      string,
      string,
    ];
    const gen = await Promise.all(
      [k1, k2, k3].map((k) => runCli(['cmek', 'generate-key', '--out', k, '-o', 'json'], { env })),
    );
    for (const [i, g] of gen.entries()) {
      expect(g.code).toBe(0);
      expect(statSync([k1, k2, k3][i] as string).mode & 0o777).toBe(0o600);
      expect(JSON.parse(g.stdout).fingerprint).toMatch(/^[0-9a-f]{64}$/);
    }
    const fp1 = JSON.parse((gen[0] as CliResult).stdout).fingerprint as string;
    expect((await runCli(['cmek', 'generate-key', '--out', k1], { env })).code).toBe(2); // no overwrite
    // --force over a file others can read: the new key is 0600 all the same.
    const loose = join(keys, 'loose.key');
    writeFileSync(loose, 'old\n');
    chmodSync(loose, 0o644);
    const forced = await runCli(['cmek', 'generate-key', '--out', loose, '--force', '-o', 'json'], { env });
    expect({ code: forced.code, err: forced.stderr }).toEqual({ code: 0, err: '' });
    expect(statSync(loose).mode & 0o777).toBe(0o600);
    expect(readFileSync(loose, 'utf8')).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    const fp = await runCli(['cmek', 'fingerprint', '--key-file', k1], { env });
    expect(fp.stdout).toBe(`${fp1}\n`);

    const name = `cmek-${Date.now().toString(36)}`;
    expect((await runCli(['vault', 'create', name], { env })).code).toBe(0);
    const enabled = await runCli(['cmek', 'enable', name, '--key-file', k1, '-o', 'json'], { env });
    expect(JSON.parse(enabled.stdout)).toMatchObject({ cmek_enabled: true, cmek_fingerprint: fp1 });

    // Without a key the server refuses a plain value; with it, only the blob is sent.
    const plain = await runCli(['secret', 'put', name, 'db/password'], { env, input: 'x' });
    expectOneLineError(plain, 6, 'invalid_cmek_value');
    expect(plain.stderr).toContain('--cmek-key-file');
    for (let i = 0; i < 12; i++) {
      const put = await runCli(['secret', 'put', name, `bulk/${i}`, '--cmek-key-file', k1], {
        env,
        input: `value ${i}`,
      });
      expect(put.code).toBe(0);
      if (i === 0) {
        const blob = await runCli(['secret', 'get', name, 'bulk/0', '-o', 'json'], { env });
        const raw = JSON.parse(blob.stdout) as { value: string; cmek_encrypted: boolean };
        expect(raw.cmek_encrypted).toBe(true);
        expect(Buffer.from(raw.value, 'base64')[0]).toBe(1);
        expect(raw.value).not.toContain('value 0');
        expectOneLineError(await runCli(['secret', 'get', name, 'bulk/0'], { env }), 8);
        const dec = await runCli(['secret', 'get', name, 'bulk/0', '--cmek-key-file', k1], { env });
        expect(dec.stdout).toBe('value 0');
        expectOneLineError(
          await runCli(['secret', 'get', name, 'bulk/0', '--cmek-key-file', k2], { env }),
          8,
        );
      }
    }

    // Server-side rotation: a wrong old key is refused (exit 8); then progress to the end.
    const wrong = await runCli(['cmek', 'rotate', name, '--old-key-file', k3, '--new-key-file', k2], { env });
    expectOneLineError(wrong, 8, 'cmek_key_mismatch');
    const rotate = await runCli(
      ['cmek', 'rotate', name, '--old-key-file', k1, '--new-key-file', k2, '--interval', '50', '-o', 'json'],
      { env },
    );
    expect({ code: rotate.code, err: rotate.stderr }).toMatchObject({ code: 0 });
    const job = JSON.parse(rotate.stdout) as {
      id: string;
      status: string;
      processed: number;
      total_secrets: number;
    };
    expect(job).toMatchObject({ status: 'succeeded', processed: 12, total_secrets: 12 });
    expect(rotate.stderr).toMatch(/rotating CMEK: 12\/12 \(100%\)\n$/);
    const got = await runCli(['secret', 'get', name, 'bulk/7', '--cmek-key-file', k2], { env });
    expect(got.stdout).toBe('value 7');
    // A writer still on the old key: 409 cmek_fingerprint_mismatch, a CMEK error (8), not 6.
    expectOneLineError(
      await runCli(['secret', 'put', name, 'bulk/7', '--cmek-key-file', k1], { env, input: 'stale' }),
      8,
      'cmek_fingerprint_mismatch',
    );
    // Asking about a finished job again just shows it.
    const again = await runCli(
      ['cmek', 'rotate', name, '--job', job.id, '--old-key-file', k1, '--new-key-file', k2],
      { env },
    );
    expect(again.stdout).toMatch(/status:\s+succeeded/);

    // Client-side rotation to a third key: the keys never leave the CLI.
    const client = await runCli(
      ['cmek', 'rotate', name, '--client-side', '--old-key-file', k2, '--new-key-file', k3],
      {
        env,
      },
    );
    expect({ code: client.code, err: client.stderr }).toMatchObject({ code: 0 });
    expect(client.stdout).toMatch(/rotated:\s+12/);
    expect(client.stderr).toMatch(/re-encrypting: 12\/12 \(100%\)/);
    // History: the server job re-encrypted version 1 under k2 (nothing is left under k1); the
    // client-side rotation leaves it there. Pass every key: the right one is picked.
    expectOneLineError(
      await runCli(['secret', 'get', name, 'bulk/3', '--version', '1', '--cmek-key-file', k1], { env }),
      8,
    );
    const hist = await runCli(
      ['secret', 'get', name, 'bulk/3', '--version', '1', '--cmek-key-file', k3, '--cmek-key-file', k2],
      { env },
    );
    expect(hist.stdout).toBe('value 3');

    expectOneLineError(
      await runCli(['cmek', 'disable', name, '--key-file', k1], { env }),
      8,
      'cmek_fingerprint_mismatch',
    );
    const off = await runCli(['cmek', 'disable', name, '--key-file', k3, '-o', 'json'], { env });
    expect(JSON.parse(off.stdout)).toMatchObject({ cmek_enabled: false });
    expect(JSON.stringify(api.logs)).not.toContain(readFileSync(k1, 'utf8').trim());
  });
});

describe('oneclaw after login, on a 2-second token lifetime', () => {
  const shortApi = testApiForSuite(
    { ONECLAW_AUTH_RATE_LIMIT: '0', ONECLAW_TOKEN_TTL_SECONDS: '2' },
    { listen: true },
  );

  it('a long `audit tail -f` renews its token with the stored key instead of failing with 401', async () => {
    const env = {
      ONECLAW_CONFIG_DIR: join(tmp('oneclaw-ttl-'), 'config'),
      ONECLAW_API_URL: shortApi().server.url as string,
    };
    const login = await runCli(['login'], { env, input: `${shortApi().adminKey}\n` });
    expect({ code: login.code, err: login.stderr }).toEqual({ code: 0, err: '' });

    // Spawned without waiting (runCli waits for the end): stopped with SIGTERM once it has run
    // for well over a token's lifetime.
    const cli = spawnCli(['audit', 'tail', '-f', '-n', '1', '--interval', '200', '-o', 'json'], { env });
    cli.child.stdin.end();
    const { child, exited } = cli;
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      // The first line: the initial tail, printed with the token it started with.
      for (let i = 0; i < 300 && !cli.output().stdout.includes('\n') && child.exitCode === null; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(cli.output().stdout).toContain('\n');
      await new Promise((r) => setTimeout(r, 4_500)); // more than two token lifetimes
      child.kill('SIGTERM');
      expect({ code: await exited, stderr: cli.output().stderr }).toEqual({ code: 0, stderr: '' });
    } finally {
      clearTimeout(killer);
    }
    const { stdout } = cli.output();
    // Its own exchanges are in the audit log it follows: refreshed along the way, by the key.
    const followed = stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l) as { action: string; decision: string });
    const renewals = followed.filter((e) => e.action === 'auth.token' && e.decision === 'allow');
    expect(renewals.length).toBeGreaterThanOrEqual(2);
    expect(stdout).not.toContain(shortApi().adminKey);
  });
});
