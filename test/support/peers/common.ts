import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running peer: `info` is plain JSON (it crosses from the harness to test workers). */
export interface Peer<I> {
  readonly info: I;
  stop(): Promise<void>;
}

export function makeWorkDir(peer: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `oneclaw-${peer}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
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
