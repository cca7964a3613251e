// The harness is what every other test stands on, so it has tests of its own: shared peers are
// started once and stopped at the end, stuck processes are killed, and process groups left by
// a harness that died are reaped by the next one.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startPeerBroker } from './broker.js';
import { makeWorkDir } from './peers/common.js';
import { reapOrphans, spawnManaged, waitFor } from './proc.js';
import { repoRoot } from './tools.js';

/** Gone, or a zombie waiting for a parent that does not reap it (PID 1 in some sandboxes). */
function isDead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('peer broker', () => {
  it('starts a peer once for concurrent suites, shares it, and stops it on close', async () => {
    const broker = await startPeerBroker();
    const ask = async () => {
      const res = await fetch(`${broker.url}/peers/openbao`, { method: 'POST' });
      expect(res.status).toBe(200);
      return (await res.json()) as { address: string; token: string };
    };
    const [a, b] = await Promise.all([ask(), ask()]);
    expect(a).toEqual(b);
    expect(broker.started()).toEqual(['openbao']);
    const health = await fetch(`${a.address}/v1/sys/health`);
    expect(health.ok).toBe(true);

    await broker.close();
    await expect(fetch(`${a.address}/v1/sys/health`)).rejects.toThrow();
  });

  it('answers 404 with a message for an unknown peer', async () => {
    const broker = await startPeerBroker();
    try {
      const res = await fetch(`${broker.url}/peers/nosuchpeer`, { method: 'POST' });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toMatch(/unknown peer/);
    } finally {
      await broker.close();
    }
  });
});

describe('managed processes', () => {
  it('kills a process that ignores SIGTERM once the grace period is over', async () => {
    const work = makeWorkDir('proc');
    try {
      const proc = spawnManaged({
        name: 'stubborn',
        command: 'bash',
        args: ['-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done'],
        logFile: join(work.dir, 'log'),
      });
      await waitFor('stubborn ready', async () => (proc.tail().includes('ready') ? true : undefined));
      const t0 = Date.now();
      await proc.stop('SIGTERM', 300);
      expect(proc.isRunning()).toBe(false);
      expect(alive(proc.pid)).toBe(false);
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      work.remove();
    }
  });

  it('reaps the process groups of a harness that was killed with SIGKILL', async () => {
    // A separate harness process starts a long sleeper, then dies without any cleanup.
    const script = `
      import { spawnManaged } from ${JSON.stringify(join(repoRoot, 'test/support/proc.ts'))};
      const p = spawnManaged({ name: 'orphan', command: 'sleep', args: ['300'], logFile: '/dev/null' });
      console.log(p.pid);
      setInterval(() => {}, 1000);
    `;
    const harness = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const orphanPid = await new Promise<number>((resolve, reject) => {
      harness.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      harness.once('exit', () => reject(new Error('harness process exited early')));
    });
    expect(alive(orphanPid)).toBe(true);
    harness.kill('SIGKILL');
    await new Promise((resolve) => harness.once('exit', resolve));
    expect(alive(orphanPid)).toBe(true);

    expect(reapOrphans()).toBeGreaterThanOrEqual(1);
    await waitFor('orphan killed', async () => (isDead(orphanPid) ? true : undefined), { timeoutMs: 5_000 });
  });
});
