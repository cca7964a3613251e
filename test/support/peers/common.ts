import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../ports.js';
import type { ManagedProcess } from '../proc.js';

/** A running peer: `info` is plain JSON (it crosses from the harness to test workers). */
export interface Peer<I> {
  readonly info: I;
  stop(): Promise<void>;
}

export function makeWorkDir(peer: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `oneclaw-${peer}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A peer that is one process in its own work directory, on a free loopback port. `spawn` starts
 * it; until `ready` resolves it is not a peer: should that fail, the process is stopped and the
 * directory removed before the error goes on. Stopping the peer does the same.
 */
export async function startProcessPeer<I>(
  peer: string,
  spawn: (dir: string, port: number) => { proc: ManagedProcess; info: I; ready(): Promise<unknown> },
): Promise<Peer<I>> {
  const work = makeWorkDir(peer);
  const port = await freePort();
  const { proc, info, ready } = spawn(work.dir, port);
  const stop = async () => {
    await proc.stop();
    work.remove();
  };
  try {
    await ready();
  } catch (err) {
    await stop();
    throw err;
  }
  return { info, stop };
}

/** PostgreSQL refuses to run as root; as root we run it as the Debian `postgres` user. */
export function unprivilegedUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export function chownTree(path: string, owner: { uid: number; gid: number } | undefined): void {
  if (!owner) return;
  chownSync(path, owner.uid, owner.gid);
}

export async function httpOk(url: string, init?: RequestInit): Promise<true | undefined> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.ok ? true : undefined;
}
