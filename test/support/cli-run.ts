// Runs `bin/oneclaw` as a user would: a separate process with its own config directory, no
// ONECLAW_* variables but the ones given, optional stdin; resolves with the exit code and output.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './tools.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running `bin/oneclaw`, its output so far, and its exit code once it ends. */
export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  output(): { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/** Collects a child's stdout and stderr as text while it runs; the function returns them so far. */
export function captureOutput(child: {
  stdout: NodeJS.ReadableStream;
  stderr: NodeJS.ReadableStream;
}): () => { stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return () => ({ stdout, stderr });
}

export function spawnCli(args: string[], opts: { env?: Record<string, string> } = {}): CliProcess {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('ONECLAW_') && k !== 'XDG_CONFIG_HOME'),
  );
  const child = spawn(join(repoRoot, 'bin/oneclaw'), args, {
    env: { ...clean, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output = captureOutput(child);
  child.stdin.on('error', () => {}); // a command that does not read stdin may exit first
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return { child, output, exited };
}

export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; input?: string | Uint8Array; timeoutMs?: number } = {},
): Promise<CliResult> {
  const cli = spawnCli(args, opts);
  cli.child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const code = await cli.exited;
  clearTimeout(timer);
  return { code, ...cli.output() };
}
