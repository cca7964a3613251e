// `oneclaw kms migrate [--vault] [--wait]` (admins): re-wrap KEKs still under a previous KMS key
// (ONECLAW_KMS_PREVIOUS_KEYS) with the server's current one (ONECLAW_KMS_KEY).
import type { Command } from 'commander';
import { vaultId } from '../lib/resolve.js';
import { context } from './context.js';
import { finishJob, waitForJob } from './jobs.js';

export function register(program: Command): void {
  const kms = program.command('kms').description('root keys (admins)');

  kms
    .command('migrate')
    .description("re-wrap KEKs under the server's previous KMS keys with its current key")
    .option('--vault <vault>', 'only this vault (id or name; default: all)')
    .option('--wait', 'follow the job to its end')
    .action(async (opts: { vault?: string; wait?: boolean }, cmd) => {
      const ctx = context(cmd);
      const client = await ctx.client();
      const id = opts.vault ? await vaultId(client, opts.vault) : undefined;
      let job = await client.kms.migrate(id ? { vaultId: id } : {});
      if (opts.wait) job = await waitForJob(client, job, 'migrating KEKs');
      finishJob(ctx, job);
    });
}
