// Child processes of the test harness: each runs in its own process group with its output in a
// log file, is stopped with SIGTERM then SIGKILL, and is killed when the harness process exits
// for any reason. A harness killed with SIGKILL cannot clean up, so every group is also recorded
// in a pid file and the next harness start kills groups whose owner is gone.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const pidDir = join(tmpdir(), 'oneclaw-test-pids');
const live = new Map<number, string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Waits (boundedly) until no process of the group is left: the leader's exit only starts the
 * SIGKILL of what else the group holds, and a stopped peer must not outlive its stop().
 */
async function groupGone(pgid: number, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(-pgid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    }
    await sleep(20);
  }
}

process.on('exit', () => {
  for (const [pid, file] of live) {
    killGroup(pid, 'SIGKILL');
    rmSync(file, { force: true });
  }
});

/** Kills process groups left behind by harness processes that died without cleaning up. */
export function reapOrphans(): number {
  mkdirSync(pidDir, { recursive: true });
  let reaped = 0;
  for (const name of readdirSync(pidDir)) {
    const m = /^(\d+)-(\d+)$/.exec(name);
    if (!m) continue;
    const owner = Number(m[1]);
    const group = Number(m[2]);
    if (alive(owner)) continue;
    killGroup(group, 'SIGKILL');
    rmSync(join(pidDir, name), { force: true });
    reaped++;
  }
  return reaped;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  isRunning(): boolean;
  /** Last lines of the process's log, for error messages. */
  tail(lines?: number): string;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface SpawnManagedOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
}

export function spawnManaged(opts: SpawnManagedOptions): ManagedProcess {
  mkdirSync(pidDir, { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  const spawnOpts: SpawnOptions = {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  };
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, spawnOpts);
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${opts.name}: could not start ${opts.command}`);
  const pidFile = join(pidDir, `${process.pid}-${pid}`);
  writeFileSync(pidFile, `${opts.name}\n`);
  live.set(pid, pidFile);

  let running = true;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(pid);
      rmSync(pidFile, { force: true });
      // The group may still hold grandchildren (for example a shell's children).
      killGroup(pid, 'SIGKILL');
      resolve(code ?? (signal ? -1 : null));
    });
    child.once('error', () => {
      running = false;
      resolve(null);
    });
  });

  const tail = (lines = 30): string => {
    try {
      return readFileSync(opts.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };

  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    isRunning: () => running,
    tail,
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (!running) return;
      killGroup(pid, signal);
      const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        killGroup(pid, 'SIGKILL');
        await exited;
      }
      await groupGone(pid);
    },
  };
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** If this process dies while waiting, fail at once with its log. */
  process?: ManagedProcess;
}

/** Polls `probe` until it returns a value other than undefined, or fails with what it last saw. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let last: unknown;
  for (;;) {
    if (opts.process && !opts.process.isRunning()) {
      throw new Error(
        `${what}: ${opts.process.name} exited while starting; log tail:\n${opts.process.tail()}`,
      );
    }
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const log = opts.process ? `\nlog tail of ${opts.process.name}:\n${opts.process.tail()}` : '';
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}${log}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
