// Ctrl-C ends `make dev` promptly and leaves nothing running: started the way the Makefile runs
// it, interrupted once it is ready, it must exit within 5 s, and every process group it started
// (the peers record theirs in the harness's pid directory, keyed by their owner) must be gone.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureOutput } from '../support/cli-run.js';
import { repoRoot } from '../support/tools.js';

const pidDir = join(tmpdir(), 'oneclaw-test-pids');

function groupsOwnedBy(owner: number): number[] {
  return readdirSync(pidDir)
    .map((name) => /^(\d+)-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) === owner)
    .map((m) => Number(m[2]));
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('make dev', () => {
  it('stops within 5 s of Ctrl-C and leaves no process behind', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'hack/dev.ts'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = captureOutput(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const pid = child.pid as number;
    try {
      const ready = await Promise.race([
        new Promise<true>((resolve) => {
          const check = () => {
            if (output().stdout.includes('Press Ctrl-C to stop.')) resolve(true);
            else setTimeout(check, 200);
          };
          check();
        }),
        exited.then(
          (code) =>
            new Error(
              `make dev exited (${code}) before it was ready:\n${output().stdout}\n${output().stderr}`,
            ),
        ),
      ]);
      if (ready instanceof Error) throw ready;
      const groups = groupsOwnedBy(pid);
      // The control plane (etcd, kube-apiserver, kube-controller-manager), PostgreSQL, OpenBao,
      // moto and the GCP KMS server.
      expect(groups.length).toBeGreaterThanOrEqual(7);

      const t0 = Date.now();
      child.kill('SIGINT');
      const code = await Promise.race([
        exited,
        new Promise<'running'>((r) => setTimeout(r, 10_000, 'running')),
      ]);
      const stopMs = Date.now() - t0;
      expect({ code, stopMs: stopMs < 5_000 ? 'under 5 s' : `${stopMs} ms` }).toEqual({
        code: 0,
        stopMs: 'under 5 s',
      });
      expect(groups.filter(groupAlive)).toEqual([]);
      expect(groupsOwnedBy(pid)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  }, 170_000);
});
