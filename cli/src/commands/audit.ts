// `oneclaw audit tail [--follow]|verify` (admins).
import type { Command } from 'commander';
import type { AuditEvent, OneclawClient } from '../../../sdk/src/index.js';
import { CliError, EXIT } from '../lib/errors.js';
import { printFields, printJson, printLine, toJsonText } from '../lib/output.js';
import { vaultId } from '../lib/resolve.js';
import { type Context, context, intOption } from './context.js';

const PAGE = 1000;

function line(e: AuditEvent): string {
  const where = [e.vault_id, e.path ? `${e.path}${e.version ? `@${e.version}` : ''}` : undefined]
    .filter(Boolean)
    .join(' ');
  return [e.seq, e.at, e.actor, e.action, e.decision, where, e.reason ?? ''].join('  ').trimEnd();
}

/** Every record after `after`, page by page. */
async function readAll(client: OneclawClient, vault: string | undefined, after: string | undefined) {
  const out: AuditEvent[] = [];
  let cursor = after;
  for (;;) {
    const page = await client.audit.list({
      ...(vault ? { vault_id: vault } : {}),
      ...(cursor ? { after: cursor } : {}),
      limit: PAGE,
    });
    out.push(...page.events);
    cursor = page.next_cursor || cursor;
    if (page.events.length < PAGE) return { events: out, cursor };
  }
}

function show(ctx: Context, events: AuditEvent[], stream: boolean): void {
  if (ctx.format === 'json') {
    if (stream) for (const e of events) process.stdout.write(`${toJsonText(e)}\n`);
    else printJson(events);
    return;
  }
  for (const e of events) printLine(line(e));
}

export function register(program: Command): void {
  const audit = program.command('audit').description('the hash-chained audit log (admins)');

  audit
    .command('tail')
    .description('show the latest records; --follow keeps printing new ones')
    .option('-n, --lines <n>', 'how many of the latest records', intOption('--lines'), 20)
    .option('--vault <vault>', 'only this vault (id or name)')
    .option('-f, --follow', 'keep printing records as they are appended (JSON: one object per line)')
    .option('--interval <ms>', 'poll interval with --follow', intOption('--interval'), 1000)
    .action(async (opts: { lines: number; vault?: string; follow?: boolean; interval: number }, cmd) => {
      const ctx = context(cmd);
      const client = await ctx.client();
      const vault = opts.vault ? await vaultId(client, opts.vault) : undefined;
      const first = await readAll(client, vault, undefined);
      show(ctx, opts.lines === 0 ? [] : first.events.slice(-opts.lines), opts.follow === true);
      if (!opts.follow) return;
      let cursor = first.cursor;
      let stop = false;
      process.once('SIGINT', () => {
        stop = true;
      });
      process.once('SIGTERM', () => {
        stop = true;
      });
      while (!stop) {
        await new Promise((r) => setTimeout(r, opts.interval));
        if (stop) break;
        const next = await readAll(client, vault, cursor);
        show(ctx, next.events, true);
        cursor = next.cursor;
      }
    });

  audit
    .command('verify')
    .description("verify the org's audit hash chain from its start (exit 1 if broken)")
    .action(async (_opts, cmd) => {
      const ctx = context(cmd);
      const r = await (await ctx.client()).audit.verify();
      if (ctx.format === 'json') printJson(r);
      else if (r.ok)
        printFields([
          ['audit chain', 'intact'],
          ['records', r.checked],
        ]);
      if (!r.ok) {
        throw new CliError(
          EXIT.error,
          `audit chain broken at record ${r.broken_at ?? '?'} after ${r.checked} good records: ${r.reason ?? 'no reason given'}`,
        );
      }
    });
}
