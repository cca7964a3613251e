// Text from the server reaches an admin's terminal: a denied request's path is audited as it was
// sent, and descriptions and names are free text. A hostile member must not be able to write
// terminal escape sequences (clear the screen, set the title, hide lines) to the admin who reads
// `oneclaw audit tail` or a table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../test/support/api.js';
import { createUser, createVault, tokenFor } from '../../test/support/api-helpers.js';
import { runCli } from '../../test/support/cli-run.js';
import { terminalSafe, toJsonText } from './lib/output.js';

// ESC, CSI (C1), BEL, DEL and a right-to-left override: each makes a terminal act, not show.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const HOSTILE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/;

describe('terminal-safe output', () => {
  it('shows every control character and bidi override as a visible escape', () => {
    expect(terminalSafe('a\u001b[2Jb\u0007c\u009bd\u202ee\u007f\nf\tg')).toBe(
      'a\\x1b[2Jb\\x07c\\x9bd\\u202ee\\x7f\\x0af\\x09g',
    );
    expect(terminalSafe('plain/path-1_2 ✓')).toBe('plain/path-1_2 ✓');
    // A value shown on a terminal keeps its lines (a PEM key) but not its escape sequences.
    expect(terminalSafe('-----BEGIN-----\n\tAAA\u001b[2J\n', { keepLines: true })).toBe(
      '-----BEGIN-----\n\tAAA\\x1b[2J\n',
    );
  });

  it('keeps JSON the same value while escaping what JSON.stringify leaves raw', () => {
    const value = { path: 'a\u001b]0;pwned\u0007\u009b31m\u202eb', n: [1, 2] };
    const text = toJsonText(value, 2);
    expect(text).not.toMatch(HOSTILE);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('oneclaw audit tail and tables against hostile stored text', () => {
  let api: TestApi;
  let configDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    api = await startTestApi({ ONECLAW_AUTH_RATE_LIMIT: '0' }, { listen: true });
    configDir = mkdtempSync(join(tmpdir(), 'oneclaw-term-'));
    env = { ONECLAW_CONFIG_DIR: configDir, ONECLAW_API_URL: api.server.url as string };
    const login = await runCli(['login'], { env, input: `${api.adminKey}\n` });
    expect(login.code).toBe(0);
  });
  afterAll(async () => {
    await api?.close();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('escapes a denied request path and a vault description before they reach the terminal', async () => {
    const vault = await createVault(api, { description: 'ops \u001b[2J\u001b]0;owned\u0007 vault' });
    const member = await createUser(api);
    const token = await tokenFor(api, member.apiKey);
    // Raw bytes in the URL: ESC [ 2 J (clear screen) and OSC 0 (set the window title).
    const denied = await fetch(`${api.server.url}/v1/vaults/${vault.id}/secrets/x%1B%5B2J%1B%5D0;pwned%07y`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(denied.status).toBeGreaterThanOrEqual(400);
    expect(denied.status).toBeLessThan(500);

    const json = await runCli(['audit', 'tail', '-n', '50', '-o', 'json'], { env });
    expect(json.code).toBe(0);
    const records = JSON.parse(json.stdout) as Array<{ path: string | null; action: string }>;
    // The hostile text really is stored: the test would pass vacuously otherwise.
    const stored = records.find((r) => r.path?.includes('\u001b'));
    expect(stored, 'the denied path was audited with its raw bytes').toBeDefined();

    const human = await runCli(['audit', 'tail', '-n', '50'], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).not.toMatch(HOSTILE);
    expect(human.stdout).toContain('x\\x1b[2J\\x1b]0;pwned\\x07y');

    const table = await runCli(['vault', 'get', vault.id], { env });
    expect(table.code).toBe(0);
    expect(table.stdout).not.toMatch(HOSTILE);
    expect(table.stdout).toContain('\\x1b[2J');
  });
});
