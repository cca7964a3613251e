#!/usr/bin/env node
// `oneclaw`: the command-line entry. `oneclaw server` runs the API and `oneclaw operator` the
// Kubernetes operator (their modules load only when they run); the human commands talk to an API
// through the SDK. Failures print one line and exit with a documented code (docs/cli.md).
import { Command, CommanderError } from 'commander';
import { SDK_VERSION } from '../../sdk/src/index.js';
import { register as agent } from './commands/agent.js';
import { register as audit } from './commands/audit.js';
import { register as cmek } from './commands/cmek.js';
import { register as completion } from './commands/completion.js';
import { register as kms } from './commands/kms.js';
import { register as login } from './commands/login.js';
import { register as operator } from './commands/operator.js';
import { register as policy } from './commands/policy.js';
import { register as secret } from './commands/secret.js';
import { register as server } from './commands/server.js';
import { register as sync } from './commands/sync.js';
import { register as vault } from './commands/vault.js';
import { describeError, EXIT, exitCodeOf } from './lib/errors.js';
import { terminalSafe } from './lib/output.js';

const program = new Command()
  .name('oneclaw')
  .description('Kubernetes-native secrets manager')
  .version(SDK_VERSION)
  .showHelpAfterError()
  // Options before a subcommand belong to the program: `secret get --version 2` is the secret's.
  .enablePositionalOptions()
  // Usage errors become exit code 2 here rather than commander's exit(1) deep inside.
  .exitOverride();

addOutputOptions(program);
for (const add of [
  server,
  operator,
  login,
  vault,
  secret,
  agent,
  policy,
  cmek,
  audit,
  kms,
  sync,
  completion,
]) {
  add(program);
}
// Every human command takes --output and --server after its arguments too.
const leaves = (c: Command): Command[] => (c.commands.length ? c.commands.flatMap(leaves) : [c]);
for (const leaf of leaves(program)) {
  if (!['server', 'operator', 'completion', 'help'].includes(leaf.name())) addOutputOptions(leaf);
}

function addOutputOptions(c: Command): void {
  c.option('-o, --output <format>', 'table (default) or json').option(
    '--server <url>',
    'the API URL (default: ONECLAW_API_URL, then the one logged in to)',
  );
}

program.parseAsync().then(
  () => {
    process.exitCode ??= EXIT.ok;
  },
  (err: unknown) => {
    if (err instanceof CommanderError) {
      // Commander already printed the message (or the help / version). Help asked for (`--help`,
      // `help`) exits 0; help shown because the subcommand is missing (`oneclaw secret`) went to
      // stderr with exit code 1 and is a usage error, so a script does not take it for success.
      const ok =
        err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
      process.exit(ok ? EXIT.ok : EXIT.usage);
    }
    // An API error message can echo what was sent (a path); keep it from driving the terminal.
    process.stderr.write(`oneclaw: ${terminalSafe(describeError(err))}\n`);
    process.exit(exitCodeOf(err));
  },
);
