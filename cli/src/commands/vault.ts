// `oneclaw vault create|list|get|delete|rotate-kek`.
import type { Command } from 'commander';
import { Custody } from '../../../contract/src/vaults.js';
import type { Vault } from '../../../sdk/src/index.js';
import { usage } from '../lib/errors.js';
import { emit, printFields, printTable } from '../lib/output.js';
import { findVault, vaultId } from '../lib/resolve.js';
import { context } from './context.js';
import { finishJob, waitForJob } from './jobs.js';

const CUSTODY_MODES: readonly Custody[] = Custody.anyOf.map((c) => c.const);

function printVault(v: Vault): void {
  printFields([
    ['id', v.id],
    ['name', v.name],
    ['description', v.description],
    ['kms key', v.kms_key],
    ['kms backend', v.kms_backend],
    ['custody', v.custody],
    ['kek version', v.kek_version],
    ['cmek', v.cmek_enabled ? `on (${v.cmek_fingerprint ?? '?'})` : 'off'],
    ['created', v.created_at],
    ['updated', v.updated_at],
  ]);
}

export function register(program: Command): void {
  const vault = program.command('vault').description('manage vaults');

  vault
    .command('create <name>')
    .description('create a vault')
    .option('--description <text>', 'a description')
    .option('--kms-key <uri>', 'a KMS key URI the server is configured with (default: its root key)')
    .option('--custody <mode>', 'wrapped (default) or kms')
    .action(async (name: string, opts: { description?: string; kmsKey?: string; custody?: string }, cmd) => {
      const ctx = context(cmd);
      if (opts.custody && !(CUSTODY_MODES as readonly string[]).includes(opts.custody)) {
        throw usage(`--custody must be ${CUSTODY_MODES.join(' or ')}`);
      }
      const v = await (await ctx.client()).vaults.create({
        name,
        ...(opts.description ? { description: opts.description } : {}),
        ...(opts.kmsKey ? { kms_key: opts.kmsKey } : {}),
        ...(opts.custody ? { custody: opts.custody as Custody } : {}),
      });
      emit(ctx.format, v, () => printVault(v));
    });

  vault
    .command('list')
    .description('list the vaults you can see')
    .action(async (_opts, cmd) => {
      const ctx = context(cmd);
      const vaults = await (await ctx.client()).vaults.list();
      emit(ctx.format, vaults, () =>
        printTable(
          ['id', 'name', 'custody', 'kek', 'cmek', 'created'],
          vaults.map((v) => [
            v.id,
            v.name,
            v.custody,
            v.kek_version,
            v.cmek_enabled ? 'on' : 'off',
            v.created_at,
          ]),
        ),
      );
    });

  vault
    .command('get <vault>')
    .description('show a vault (by id or name)')
    .action(async (ref: string, _opts, cmd) => {
      const ctx = context(cmd);
      const v = await findVault(await ctx.client(), ref);
      emit(ctx.format, v, () => printVault(v));
    });

  vault
    .command('delete <vault>')
    .description('delete a vault; --purge crypto-shreds it (needs --yes)')
    .option('--purge', 'destroy its keys: nothing in it can ever be decrypted again')
    .option('--yes', 'confirm --purge')
    .action(async (ref: string, opts: { purge?: boolean; yes?: boolean }, cmd) => {
      const ctx = context(cmd);
      if (opts.purge && !opts.yes)
        throw usage('--purge destroys the vault irrecoverably: add --yes to confirm');
      const client = await ctx.client();
      const id = await vaultId(client, ref);
      await client.vaults.delete(id, { purge: opts.purge === true });
      emit(ctx.format, { id, deleted: true, purged: opts.purge === true }, () =>
        process.stdout.write(`deleted vault ${id}${opts.purge ? ' (purged)' : ''}\n`),
      );
    });

  vault
    .command('rotate-kek <vault>')
    .description("rotate the vault's key-encryption key (a job re-wraps every data key)")
    .option('--wait', 'follow the job to its end')
    .action(async (ref: string, opts: { wait?: boolean }, cmd) => {
      const ctx = context(cmd);
      const client = await ctx.client();
      let job = await client.vaults.rotateKek(await vaultId(client, ref));
      if (opts.wait) job = await waitForJob(client, job, 'rotating KEK');
      finishJob(ctx, job);
    });
}
