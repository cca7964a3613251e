// vitest globalSetup: one peer broker per run (see broker.ts), torn down when the run ends.
import type { TestProject } from 'vitest/node';
import { startPeerBroker } from './broker.js';
import { reapOrphans } from './proc.js';

declare module 'vitest' {
  export interface ProvidedContext {
    peerBroker: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const reaped = reapOrphans();
  if (reaped > 0) console.warn(`[peers] killed ${reaped} process group(s) left by an earlier run`);
  const broker = await startPeerBroker();
  project.provide('peerBroker', broker.url);
  return async () => {
    const started = broker.started();
    await broker.close();
    // stderr: the closing summary line on stdout stays the run's last counted line.
    if (started.length > 0) console.error(`[peers] stopped: ${started.join(', ')}`);
  };
}
