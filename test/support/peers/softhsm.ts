// SoftHSM2: a token initialised in a temporary directory. There is no process; the PKCS#11
// module reads SOFTHSM2_CONF when it is initialised, so a test process sets that variable to the
// returned `conf` before it loads the module.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tools } from '../tools.js';
import { makeWorkDir, type Peer } from './common.js';

export interface SoftHsmInfo {
  module: string;
  conf: string;
  tokenLabel: string;
  pin: string;
  soPin: string;
}

export async function startSoftHsm(tokenLabel = 'oneclaw'): Promise<Peer<SoftHsmInfo>> {
  const work = makeWorkDir('softhsm');
  const tokens = join(work.dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(work.dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const pin = '1234';
  const soPin = '0000';
  execFileSync(
    tools.softhsmUtil(),
    ['--init-token', '--free', '--label', tokenLabel, '--pin', pin, '--so-pin', soPin],
    { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' },
  );
  return {
    info: { module: tools.softhsmModule(), conf, tokenLabel, pin, soPin },
    async stop() {
      work.remove();
    },
  };
}
