// `oneclaw agent create|list|rotate-key|delete` (admins). A new key is printed once.
import type { Command } from 'commander';
import type { AgentWithKey } from '../../../sdk/src/index.js';
import { emit, printTable, terminalSafe } from '../lib/output.js';
import { context } from './context.js';

function printKey(k: AgentWithKey): void {
  process.stdout.write(
    `agent ${k.agent.id} (${terminalSafe(k.agent.name)})\nAPI key (shown once, store it now):\n  ${k.api_key}\n`,
  );
  process.stderr.write(
    `log in as this agent: oneclaw login --agent-id ${k.agent.id} --api-key-file <file holding the key>\n`,
  );
}

export function register(program: Command): void {
  const agent = program.command('agent').description('manage agents (admins)');

  agent
    .command('create <name>')
    .description('create an agent; its API key is shown once')
    .option('--description <text>', 'a description')
    .option('--expires-at <time>', 'RFC 3339: the agent stops working then')
    .action(async (name: string, opts: { description?: string; expiresAt?: string }, cmd) => {
      const ctx = context(cmd);
      const created = await (await ctx.client()).agents.create({
        name,
        ...(opts.description ? { description: opts.description } : {}),
        ...(opts.expiresAt ? { expires_at: opts.expiresAt } : {}),
      });
      emit(ctx.format, created, () => printKey(created));
    });

  agent
    .command('list')
    .description('list agents')
    .action(async (_opts, cmd) => {
      const ctx = context(cmd);
      const agents = await (await ctx.client()).agents.list();
      emit(ctx.format, agents, () =>
        printTable(
          ['id', 'name', 'disabled', 'expires', 'created'],
          agents.map((a) => [a.id, a.name, a.disabled ? 'yes' : 'no', a.expires_at, a.created_at]),
        ),
      );
    });

  agent
    .command('rotate-key <agent-id>')
    .description('issue a new key; the old key and its tokens stop working at once')
    .action(async (id: string, _opts, cmd) => {
      const ctx = context(cmd);
      const rotated = await (await ctx.client()).agents.rotateKey(id);
      emit(ctx.format, rotated, () => printKey(rotated));
    });

  agent
    .command('delete <agent-id>')
    .description('delete an agent and its grants')
    .action(async (id: string, _opts, cmd) => {
      const ctx = context(cmd);
      await (await ctx.client()).agents.delete(id);
      emit(ctx.format, { id, deleted: true }, () => process.stdout.write(`deleted agent ${id}\n`));
    });
}
