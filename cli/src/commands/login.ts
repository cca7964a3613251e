// `oneclaw login` / `oneclaw logout`: exchange an API key for a token and keep both (see
// lib/credentials.ts); the key is read from a file, ONECLAW_API_KEY, stdin or a hidden prompt,
// never from argv. `login --kubernetes` exchanges the pod's projected service-account token
// instead, and keeps its path: a workload uses its own identity and holds no static key.
import { existsSync, readFileSync } from 'node:fs';

import type { Command } from 'commander';
import type { Credentials } from '../../../sdk/src/index.js';
import {
  credentialsFile,
  removeCredentials,
  type StoredCredentials,
  saveCredentials,
} from '../lib/credentials.js';
import { CliError, EXIT } from '../lib/errors.js';
import { promptHidden, readStdin } from '../lib/input.js';
import { emit, printFields } from '../lib/output.js';
import {
  credentialsForKey,
  DEFAULT_SERVER,
  exchange,
  KUBERNETES_TOKEN_FILES,
  kubernetesCredentials,
  normalizeServer,
} from '../lib/session.js';
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

function kubernetesTokenFile(given: string | undefined): string {
  if (given) return given;
  const found = KUBERNETES_TOKEN_FILES.find((f) => existsSync(f));
  if (!found) {
    throw new CliError(
      EXIT.usage,
      `no service-account token at ${KUBERNETES_TOKEN_FILES.join(' or ')}: pass --token-file`,
    );
  }
  return found;
}

/** How a login authenticates, what it keeps for renewing the token, and what it tells. */
interface Login {
  credentials: Credentials;
  stored: Partial<StoredCredentials>;
  shown: Record<string, unknown>;
  kept: string;
}

async function keyLogin(opts: LoginOptions): Promise<Login> {
  const apiKey = await readApiKey(opts.apiKeyFile);
  if (!apiKey) throw new CliError(EXIT.usage, 'no API key given');
  const credentials = credentialsForKey(apiKey, opts.agentId ?? process.env.ONECLAW_AGENT_ID);
  return {
    credentials,
    stored: {
      ...(opts.storeKey ? { api_key: apiKey } : {}),
      ...('agentId' in credentials ? { agent_id: credentials.agentId } : {}),
    },
    shown: { api_key_stored: opts.storeKey },
    kept: opts.storeKey ? 'token and API key' : 'token only',
  };
}

function kubernetesLogin(given: string | undefined): Login {
  const tokenFile = kubernetesTokenFile(given);
  return {
    credentials: kubernetesCredentials(tokenFile),
    stored: { kubernetes_token_file: tokenFile },
    shown: { kubernetes_token_file: tokenFile },
    kept: `token, renewed from ${tokenFile}`,
  };
}

interface LoginOptions {
  apiKeyFile?: string;
  agentId?: string;
  storeKey: boolean;
  kubernetes?: boolean;
  tokenFile?: string;
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
    .option(
      '--kubernetes',
      `log in as this pod's service account, with its projected token (${KUBERNETES_TOKEN_FILES.join(', then ')})`,
    )
    .option('--token-file <file>', 'with --kubernetes: the service-account token file')
    .action(async (opts: LoginOptions, cmd: Command) => {
      const ctx = context(cmd);
      const server = normalizeServer(ctx.globals.server ?? process.env.ONECLAW_API_URL ?? DEFAULT_SERVER);
      if (opts.tokenFile && !opts.kubernetes)
        throw new CliError(EXIT.usage, '--token-file goes with --kubernetes');
      const login = opts.kubernetes ? kubernetesLogin(opts.tokenFile) : await keyLogin(opts);
      const t = await exchange(server, login.credentials);
      const file = saveCredentials({
        server,
        access_token: t.token,
        ...(t.principal ? { principal: t.principal } : {}),
        ...(t.expiresAt ? { token_expires_at: t.expiresAt } : {}),
        ...login.stored,
      });
      emit(
        ctx.format,
        {
          server,
          principal: t.principal ?? null,
          token_expires_at: t.expiresAt ?? null,
          ...login.shown,
          credentials_file: file,
        },
        () =>
          printFields([
            ['logged in to', server],
            ['as', t.principal],
            ['token expires', t.expiresAt],
            ['credentials', `${file} (${login.kept})`],
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
