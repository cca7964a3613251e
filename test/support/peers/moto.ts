// moto server: a real HTTP implementation of the AWS KMS API (and others) on loopback.
import { join } from 'node:path';
import { freePort } from '../ports.js';
import { spawnManaged, waitFor } from '../proc.js';
import { tools } from '../tools.js';
import { httpOk, makeWorkDir, type Peer } from './common.js';

export interface MotoInfo {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export async function startMoto(): Promise<Peer<MotoInfo>> {
  const work = makeWorkDir('moto');
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const proc = spawnManaged({
    name: 'moto_server',
    command: tools.motoServer(),
    args: ['-H', '127.0.0.1', '-p', String(port)],
    logFile: join(work.dir, 'moto.log'),
    env: { ...process.env, HOME: work.dir },
  });
  try {
    await waitFor(`moto on ${endpoint}`, () => httpOk(`${endpoint}/moto-api/`), { process: proc });
  } catch (err) {
    await proc.stop();
    work.remove();
    throw err;
  }
  return {
    info: { endpoint, region: 'us-east-1', accessKeyId: 'testing', secretAccessKey: 'testing' },
    async stop() {
      await proc.stop();
      work.remove();
    },
  };
}
