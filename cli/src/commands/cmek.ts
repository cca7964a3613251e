// `oneclaw cmek generate-key|fingerprint|enable|disable|rotate`. Keys live in files (32 raw
// bytes or their base64); they are never taken from argv and never printed.
import { chmodSync, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type CmekRotation, cmekFingerprint, generateCmekKey, toBase64 } from '../../../sdk/src/index.js';
import { CliError, describeError, EXIT, exitCodeOf, usage } from '../lib/errors.js';
import { readKeyFile } from '../lib/input.js';
import { emit, printFields, printLine, progressReporter } from '../lib/output.js';
import { vaultId } from '../lib/resolve.js';
import { type Context, context, intOption } from './context.js';
import { jobErrorField, jobStateFields } from './jobs.js';

function printRotation(ctx: Context, job: CmekRotation): void {
  emit(ctx.format, job, () =>
    printFields([
      ['rotation', job.id],
      ...jobStateFields(job, job.total_secrets),
      ['old key', job.old_fingerprint],
      ['new key', job.new_fingerprint],
      ...jobErrorField(job),
    ]),
  );
}

/**
 * Writes a key file readable by its owner only. A new file is created exclusively; `--force`
 * writes a temporary file (0600) next to it and renames it over the old one, because a mode
 * given to writeFileSync applies only when it creates the file: an existing 0644 file would
 * keep its mode (and a symlink would be written through).
 */
function writeKeyFile(file: string, text: string, overwrite: boolean): void {
  if (!overwrite) {
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600); // exactly 0600, whatever the umask
    return;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

async function fingerprintOf(opts: { keyFile?: string; fingerprint?: string }): Promise<string> {
  if (opts.fingerprint) {
    if (!/^[0-9a-f]{64}$/.test(opts.fingerprint)) throw usage('--fingerprint is 64 lowercase hex characters');
    return opts.fingerprint;
  }
  if (!opts.keyFile) throw usage('pass --key-file (or --fingerprint)');
  return cmekFingerprint(readKeyFile(opts.keyFile));
}

/** `cmek enable` and `cmek disable`: the same request but for the switch, naming the key by its fingerprint. */
function switchCmek(on: boolean) {
  return async (ref: string, opts: { keyFile?: string; fingerprint?: string }, cmd: Command) => {
    const ctx = context(cmd);
    const fp = await fingerprintOf(opts);
    const client = await ctx.client();
    const id = await vaultId(client, ref);
    const v = on ? await client.cmek.enable(id, fp) : await client.cmek.disable(id, fp);
    emit(ctx.format, v, () =>
      printLine(on ? `CMEK on for ${v.name} (${v.id}), key ${fp}` : `CMEK off for ${v.name} (${v.id})`),
    );
  };
}

export function register(program: Command): void {
  const cmek = program.command('cmek').description('customer-managed keys: client-side encryption per vault');

  cmek
    .command('generate-key')
    .description('write a new random 32-byte key (base64) to a file with mode 0600')
    .requiredOption('--out <file>', 'where to write it (must not exist, unless --force)')
    .option('--force', 'overwrite an existing file')
    .action(async (opts: { out: string; force?: boolean }, cmd) => {
      const ctx = context(cmd);
      if (existsSync(opts.out) && !opts.force) throw usage(`${opts.out} exists: add --force to overwrite it`);
      const key = await generateCmekKey();
      let fingerprint: string;
      try {
        fingerprint = await cmekFingerprint(key);
        writeKeyFile(opts.out, `${toBase64(key)}\n`, opts.force === true);
      } finally {
        key.fill(0);
      }
      emit(ctx.format, { file: opts.out, fingerprint }, () =>
        process.stdout.write(`wrote a new CMEK key to ${opts.out}\nfingerprint: ${fingerprint}\n`),
      );
    });

  cmek
    .command('fingerprint')
    .description("print a key file's fingerprint (SHA-256, what the server stores)")
    .requiredOption('--key-file <file>', 'the key')
    .action(async (opts: { keyFile: string }, cmd) => {
      const ctx = context(cmd);
      const fingerprint = await cmekFingerprint(readKeyFile(opts.keyFile));
      emit(ctx.format, { fingerprint }, () => process.stdout.write(`${fingerprint}\n`));
    });

  cmek
    .command('enable <vault>')
    .description('turn CMEK on with a key (only its fingerprint is sent)')
    .option('--key-file <file>', 'the key')
    .option('--fingerprint <hex>', "the key's fingerprint, instead of the key")
    .action(switchCmek(true));

  cmek
    .command('disable <vault>')
    .description('turn CMEK off: new writes are server-encrypted only; CMEK versions stay CMEK')
    .option('--key-file <file>', 'the active key')
    .option('--fingerprint <hex>', "the active key's fingerprint, instead of the key")
    .action(switchCmek(false));

  cmek
    .command('rotate <vault>')
    .description('re-encrypt the vault under a new key: a server job (default) or --client-side')
    .requiredOption('--old-key-file <file>', 'the active key')
    .requiredOption('--new-key-file <file>', 'the new key')
    .option('--job <id>', 'resume this interrupted rotation job (the keys are sent again)')
    .option(
      '--client-side',
      'rotate here: the server never sees the keys (slower; history stays under the old key)',
    )
    .option('--no-wait', 'start the job and return (server-side)')
    .option('--interval <ms>', 'progress poll interval', intOption('--interval'), 500)
    .action(
      async (
        ref: string,
        opts: {
          oldKeyFile: string;
          newKeyFile: string;
          job?: string;
          clientSide?: boolean;
          wait: boolean;
          interval: number;
        },
        cmd,
      ) => {
        const ctx = context(cmd);
        if (opts.clientSide && opts.job)
          throw usage('--job resumes a server-side rotation: drop --client-side');
        const oldKey = readKeyFile(opts.oldKeyFile);
        const newKey = readKeyFile(opts.newKeyFile);
        const client = await ctx.client();
        const id = await vaultId(client, ref);

        if (opts.clientSide) {
          const progress = progressReporter('re-encrypting');
          let result: Awaited<ReturnType<typeof client.cmek.rotateClientSide>>;
          try {
            result = await client.cmek.rotateClientSide(id, {
              oldKey,
              newKey,
              onProgress: (p) => progress.update(p.processed, p.total),
            });
          } finally {
            progress.done();
          }
          emit(ctx.format, result, () =>
            printFields([
              ['new key', result.newFingerprint],
              ['secrets', result.total],
              ['rotated', result.rotated],
              ['skipped', result.skipped],
              ['left', result.left.map((l) => `${l.path} (${l.code})`).join(', ') || '-'],
            ]),
          );
          if (result.left.length > 0) {
            throw new CliError(EXIT.error, `${result.left.length} secret(s) stay under the old key`);
          }
          return;
        }

        if (opts.job) {
          const before = await client.cmek.rotation(id, opts.job);
          if (before.status === 'succeeded') {
            printRotation(ctx, before);
            return;
          }
        }
        let job = await client.cmek.startRotation(id, { oldKey, newKey });
        if (opts.job && job.id !== opts.job) {
          process.stderr.write(`oneclaw: the server answered with rotation ${job.id}, not ${opts.job}\n`);
        }
        if (opts.wait) {
          const progress = progressReporter('rotating CMEK');
          try {
            job = await client.cmek.waitForRotation(id, job.id, {
              intervalMs: opts.interval,
              onProgress: (j) => progress.update(j.processed, j.total_secrets),
            });
          } catch (err) {
            progress.done();
            const resume = `resume with: oneclaw cmek rotate ${ref} --job ${job.id} --old-key-file ${opts.oldKeyFile} --new-key-file ${opts.newKeyFile}`;
            throw new CliError(exitCodeOf(err), `${describeError(err)}; ${resume}`);
          }
          progress.done();
        }
        printRotation(ctx, job);
        if (job.status === 'failed')
          throw new CliError(EXIT.error, `rotation ${job.id} failed: ${job.error ?? ''}`);
        if (job.status === 'interrupted') {
          throw new CliError(
            EXIT.unavailable,
            `rotation ${job.id} was interrupted: resume with oneclaw cmek rotate ${ref} --job ${job.id} --old-key-file … --new-key-file …`,
          );
        }
      },
    );
}
