// `oneclaw login` / `oneclaw logout`: exchange an API key for a token and keep both (see
// lib/credentials.ts); the key is read from a file, ONECLAW_API_KEY, stdin or a hidden prompt,
// never from argv.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { credentialsFile, removeCredentials, saveCredentials } from '../lib/credentials.js';
import { CliError, EXIT } from '../lib/errors.js';
import { promptHidden, readStdin } from '../lib/input.js';
import { emit, printFields } from '../lib/output.js';
import { credentialsForKey, DEFAULT_SERVER, exchange, normalizeServer } from '../lib/session.js';
import { context } from './context.js';

async function readApiKey(file: string | undefined): Promise<string> {
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new CliError(EXIT.usage, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
  if (process.env.ONECLAW_API_KEY) return process.env.ONECLAW_API_KEY.trim();
  if (!process.stdin.isTTY) return new TextDecoder().decode(await readStdin()).trim();
  return (await promptHidden('API key: ')).trim();
}

export function register(program: Command): void {
  program
    .command('login')
    .description('exchange an API key for a token and store both for the next commands')
    .option(
      '--api-key-file <file>',
      'read the API key from this file (default: ONECLAW_API_KEY, stdin, or a prompt)',
    )
    .option('--agent-id <id>', 'the agent id, for an agent key (ocv_…); default ONECLAW_AGENT_ID')
    .option('--no-store-key', 'keep only the token (log in again when it expires)')
    .action(async (opts: { apiKeyFile?: string; agentId?: string; storeKey: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const server = normalizeServer(ctx.globals.server ?? process.env.ONECLAW_API_URL ?? DEFAULT_SERVER);
      const apiKey = await readApiKey(opts.apiKeyFile);
      if (!apiKey) throw new CliError(EXIT.usage, 'no API key given');
      const agentId = opts.agentId ?? process.env.ONECLAW_AGENT_ID;
      const credentials = credentialsForKey(apiKey, agentId);
      const t = await exchange(server, credentials);
      const file = saveCredentials({
        server,
        access_token: t.token,
        ...(t.principal ? { principal: t.principal } : {}),
        ...(t.expiresAt ? { token_expires_at: t.expiresAt } : {}),
        ...(opts.storeKey ? { api_key: apiKey } : {}),
        ...('agentId' in credentials ? { agent_id: credentials.agentId } : {}),
      });
      emit(
        ctx.format,
        {
          server,
          principal: t.principal ?? null,
          token_expires_at: t.expiresAt ?? null,
          api_key_stored: opts.storeKey,
          credentials_file: file,
        },
        () =>
          printFields([
            ['logged in to', server],
            ['as', t.principal],
            ['token expires', t.expiresAt],
            ['credentials', `${file}${opts.storeKey ? ' (token and API key)' : ' (token only)'}`],
          ]),
      );
    });

  program
    .command('logout')
    .description('forget the stored token and API key')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const file = credentialsFile();
      const removed = removeCredentials();
      emit(ctx.format, { removed, credentials_file: file }, () =>
        process.stdout.write(removed ? `removed ${file}\n` : 'not logged in\n'),
      );
    });
}
