// `oneclaw secret put|get|list|versions|delete`. Values come from stdin or --file, never from
// argv; `get` prints only the value so it pipes. With --cmek-key-file the value is encrypted or
// decrypted here, and the server sees only the CMEK blob.
import type { Command } from 'commander';
import { SECRET_TYPES, type SecretType } from '../../../contract/src/secrets.js';
import {
  type CmekSecret,
  type Metadata,
  type OneclawClient,
  type Secret,
  type SecretMeta,
  type SecretPutInput,
  toBase64,
} from '../../../sdk/src/index.js';
import { CliError, EXIT, usage } from '../lib/errors.js';
import { readKeyFile, readValue } from '../lib/input.js';
import { emit, printJson, printLine, printTable, terminalSafe } from '../lib/output.js';
import { vaultId } from '../lib/resolve.js';
import { collect, context, intOption } from './context.js';

const TYPES: readonly SecretType[] = SECRET_TYPES;

function parseMetadata(pairs: string[]): Metadata | undefined {
  if (pairs.length === 0) return undefined;
  const out: Metadata = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw usage(`--metadata takes key=value, not ${JSON.stringify(p)}`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

async function readSecret(
  client: OneclawClient,
  id: string,
  path: string,
  keyFiles: string[],
  version: number | undefined,
): Promise<{ secret: Secret; plaintext?: Uint8Array }> {
  const opts = version === undefined ? {} : { version };
  if (keyFiles.length > 0) {
    const s: CmekSecret = await client.cmek.getSecret(id, path, keyFiles.map(readKeyFile), opts);
    return { secret: s, plaintext: s.plaintext };
  }
  const secret = await client.secrets.get(id, path, opts);
  return secret.cmek_encrypted ? { secret } : { secret, plaintext: new TextEncoder().encode(secret.value) };
}

export function register(program: Command): void {
  const secret = program.command('secret').description('read and write secrets');

  secret
    .command('put <vault> <path>')
    .description('write a new version; the value is read from stdin (or --file, or a prompt)')
    .option('-f, --file <file>', 'read the value from this file, byte for byte')
    .option('-t, --type <type>', `one of ${TYPES.join(', ')}`, 'password')
    .option('-m, --metadata <key=value>', 'metadata (repeatable)', collect, [])
    .option(
      '--cas <version>',
      'check-and-set: the expected current version (0: must not exist)',
      intOption('--cas'),
    )
    .option('--expires-at <time>', 'RFC 3339 expiry')
    .option('--max-access-count <n>', 'reads allowed', intOption('--max-access-count'))
    .option('--cmek-key-file <file>', 'encrypt here with this CMEK key (CMEK vaults)')
    .action(
      async (
        ref: string,
        path: string,
        opts: {
          file?: string;
          type: string;
          metadata: string[];
          cas?: number;
          expiresAt?: string;
          maxAccessCount?: number;
          cmekKeyFile?: string;
        },
        cmd,
      ) => {
        const ctx = context(cmd);
        if (!TYPES.includes(opts.type as SecretType))
          throw usage(`--type must be one of ${TYPES.join(', ')}`);
        const key = opts.cmekKeyFile ? readKeyFile(opts.cmekKeyFile) : undefined;
        const value = await readValue(opts.file, 'value');
        const metadata = parseMetadata(opts.metadata);
        const input: Omit<SecretPutInput, 'value'> = {
          type: opts.type as SecretType,
          ...(metadata ? { metadata } : {}),
          ...(opts.cas === undefined ? {} : { cas: opts.cas }),
          ...(opts.expiresAt ? { expires_at: opts.expiresAt } : {}),
          ...(opts.maxAccessCount === undefined ? {} : { max_access_count: opts.maxAccessCount }),
        };
        const client = await ctx.client();
        const id = await vaultId(client, ref);
        let result: Awaited<ReturnType<OneclawClient['secrets']['put']>>;
        if (key) {
          result = await client.cmek.putSecret(id, path, key, value, input);
        } else {
          let text: string;
          try {
            text = utf8.decode(value);
          } catch {
            throw usage('the value is not UTF-8 text: base64 it (type file), or use a CMEK key');
          }
          result = await client.secrets.put(id, path, { ...input, value: text });
        }
        value.fill(0);
        emit(ctx.format, result, () => printLine(`wrote ${result.path} version ${result.version}`));
      },
    );

  secret
    .command('get <vault> <path>')
    .description('print the value (only the value: it pipes); --output json for everything')
    .option('--version <n>', 'a given version (default: the latest)', intOption('--version'))
    .option(
      '--cmek-key-file <file>',
      'decrypt with this CMEK key (repeatable: chosen by fingerprint)',
      collect,
      [],
    )
    .action(async (ref: string, path: string, opts: { version?: number; cmekKeyFile: string[] }, cmd) => {
      const ctx = context(cmd);
      const client = await ctx.client();
      const { secret: s, plaintext } = await readSecret(
        client,
        await vaultId(client, ref),
        path,
        opts.cmekKeyFile,
        opts.version,
      );
      if (ctx.format === 'json') {
        // Without a key, a CMEK value is shown as the API returns it: the blob (base64).
        const shown = plaintext ? { ...s, value: new TextDecoder().decode(plaintext) } : { ...s };
        delete (shown as { plaintext?: unknown }).plaintext;
        if (plaintext && s.cmek_encrypted)
          (shown as Record<string, unknown>).value_base64 = toBase64(plaintext);
        printJson(shown);
        return;
      }
      if (!plaintext) {
        throw new CliError(
          EXIT.cmek,
          `${path} is CMEK-encrypted: pass --cmek-key-file (or --output json for the blob)`,
        );
      }
      if (process.stdout.isTTY) {
        // On a terminal a value written by someone else must not drive it; pipes get the bytes.
        process.stdout.write(`${terminalSafe(new TextDecoder().decode(plaintext), { keepLines: true })}\n`);
      } else {
        process.stdout.write(plaintext);
      }
    });

  secret
    .command('list <vault>')
    .description('list secrets (metadata only, never values)')
    .option('--prefix <prefix>', 'only paths under this prefix')
    .action(async (ref: string, opts: { prefix?: string }, cmd) => {
      const ctx = context(cmd);
      const client = await ctx.client();
      const id = await vaultId(client, ref);
      const all: SecretMeta[] = [];
      for await (const s of client.secrets.listAll(id, {
        ...(opts.prefix ? { prefix: opts.prefix } : {}),
        pageSize: 1000,
      })) {
        all.push(s);
      }
      emit(ctx.format, all, () =>
        printTable(
          ['path', 'type', 'version', 'cmek', 'updated'],
          all.map((s) => [s.path, s.type, s.version, s.cmek_encrypted ? 'yes' : 'no', s.updated_at]),
        ),
      );
    });

  secret
    .command('versions <vault> <path>')
    .description("list a secret's versions (metadata only)")
    .action(async (ref: string, path: string, _opts, cmd) => {
      const ctx = context(cmd);
      const client = await ctx.client();
      const versions = await client.secrets.versions(await vaultId(client, ref), path);
      emit(ctx.format, versions, () =>
        printTable(
          ['version', 'type', 'created', 'by', 'reads', 'destroyed', 'cmek'],
          versions.map((v) => [
            v.version,
            v.type,
            v.created_at,
            v.created_by,
            v.max_access_count === null ? v.access_count : `${v.access_count}/${v.max_access_count}`,
            v.destroyed ? 'yes' : 'no',
            v.cmek_encrypted ? (v.cmek_fingerprint?.slice(0, 12) ?? 'yes') : 'no',
          ]),
        ),
      );
    });

  secret
    .command('delete <vault> <path>')
    .description('delete a secret (soft); --destroy destroys every version (needs --yes)')
    .option('--destroy', 'destroy every version irrecoverably')
    .option('--yes', 'confirm --destroy')
    .action(async (ref: string, path: string, opts: { destroy?: boolean; yes?: boolean }, cmd) => {
      const ctx = context(cmd);
      if (opts.destroy && !opts.yes) throw usage('--destroy is irreversible: add --yes to confirm');
      const client = await ctx.client();
      await client.secrets.delete(await vaultId(client, ref), path, { destroy: opts.destroy === true });
      emit(ctx.format, { path, deleted: true, destroyed: opts.destroy === true }, () =>
        printLine(`deleted ${path}${opts.destroy ? ' (destroyed)' : ''}`),
      );
    });
}
