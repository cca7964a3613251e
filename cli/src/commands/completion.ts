// `oneclaw completion bash|zsh|fish`: a completion script generated from the command tree
// itself, so it never drifts from the commands. (No maintained commander completion package
// was worth a dependency: the ones published are unmaintained or need an external binary.)
import type { Command, Option } from 'commander';
import { usage } from '../lib/errors.js';

interface Node {
  /** Command path below the program, e.g. ['secret', 'put']. */
  path: string[];
  description: string;
  subcommands: Node[];
  options: string[];
}

function longFlags(options: readonly Option[]): string[] {
  return options.flatMap((o) => [o.long, o.short].filter((f): f is string => typeof f === 'string'));
}

function tree(cmd: Command, path: string[], inherited: string[]): Node {
  const options = [...new Set([...longFlags(cmd.options), ...inherited, '--help'])];
  return {
    path,
    description: cmd.description(),
    subcommands: cmd.commands.map((c) => tree(c, [...path, c.name()], inherited)),
    options,
  };
}

function walk(n: Node, visit: (n: Node) => void): void {
  visit(n);
  for (const c of n.subcommands) walk(c, visit);
}

function bashScript(root: Node, name: string): string {
  const paths: string[] = [];
  const cases: string[] = [];
  walk(root, (n) => {
    const key = n.path.join(' ');
    if (n.path.length > 0) paths.push(`"${key}"`);
    const words = [...n.subcommands.map((c) => c.path.at(-1) as string), ...n.options].join(' ');
    cases.push(`    "${key}") words="${words}" ;;`);
  });
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_completion`;
  return `# ${name} completion for bash. Load it with: source <(${name} completion bash)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" next w i words
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    if [[ -z "$path" ]]; then next="$w"; else next="$path $w"; fi
    case "$next" in
      ${paths.join('|')}) path="$next" ;;
    esac
  done
  case "$path" in
${cases.join('\n')}
    *) words="" ;;
  esac
  if [[ "\${COMP_WORDS[COMP_CWORD-1]}" == --*file* || "\${COMP_WORDS[COMP_CWORD-1]}" == --out ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}
complete -o default -F ${fn} ${name}
`;
}

function zshScript(root: Node, name: string): string {
  return `#compdef ${name}
# ${name} completion for zsh. Load it with: source <(${name} completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashScript(root, name)}`;
}

function fishScript(root: Node, name: string): string {
  const lines = [`# ${name} completion for fish. Load it with: ${name} completion fish | source`];
  const q = (s: string) => `'${s.replace(/'/g, "\\'")}'`;
  walk(root, (n) => {
    const cond =
      n.path.length === 0
        ? '__fish_use_subcommand'
        : `__fish_seen_subcommand_from ${n.path.at(-1)}${n.path.length === 1 ? '' : ` && __fish_seen_subcommand_from ${n.path[0]}`}`;
    for (const c of n.subcommands) {
      const leaf = c.path.at(-1) as string;
      const notYet = c.subcommands.length === 0 ? '' : '';
      lines.push(`complete -c ${name} -f -n ${q(`${cond}${notYet}`)} -a ${leaf} -d ${q(c.description)}`);
    }
    for (const o of n.options.filter((x) => x.startsWith('--'))) {
      lines.push(`complete -c ${name} -n ${q(cond)} -l ${o.slice(2)}`);
    }
  });
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('completion <shell>')
    .description('print a shell completion script: bash, zsh or fish')
    .action((shell: string) => {
      const root = tree(program, [], []);
      const name = program.name();
      const scripts: Record<string, () => string> = {
        bash: () => bashScript(root, name),
        zsh: () => zshScript(root, name),
        fish: () => fishScript(root, name),
      };
      const make = scripts[shell];
      if (!make) throw usage(`unknown shell ${JSON.stringify(shell)}: bash, zsh or fish`);
      process.stdout.write(make());
    });
}
