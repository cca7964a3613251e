// moto server: a real HTTP implementation of the AWS KMS API (and others) on loopback.
import { join } from 'node:path';
import { spawnManaged, waitFor } from '../proc.js';
import { tools } from '../tools.js';
import { httpOk, type Peer, startProcessPeer } from './common.js';

export interface MotoInfo {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export function startMoto(): Promise<Peer<MotoInfo>> {
  return startProcessPeer('moto', (dir, port) => {
    const endpoint = `http://127.0.0.1:${port}`;
    const proc = spawnManaged({
      name: 'moto_server',
      command: tools.motoServer(),
      args: ['-H', '127.0.0.1', '-p', String(port)],
      logFile: join(dir, 'moto.log'),
      env: { ...process.env, HOME: dir },
    });
    return {
      proc,
      info: { endpoint, region: 'us-east-1', accessKeyId: 'testing', secretAccessKey: 'testing' },
      ready: () => waitFor(`moto on ${endpoint}`, () => httpOk(`${endpoint}/moto-api/`), { process: proc }),
    };
  });
}
