// Opening the KMS when a process starts: fail-closed and loud. The configured key must be
// reachable and must round-trip a canary, or boot stops with a message that names the key
// URI and what is wrong (never a silent fallback to another backend). The log line names the
// resolved backend and key id; the local backend warns outside the dev profile.
import type { Logger } from 'pino';
import { CryptoError, KmsConfigError } from '../crypto/errors.js';
import { createKms, type Kms } from './kms.js';
import type { KmsMetrics } from './metrics.js';
import { openBackend } from './registry.js';
import type { KmsBackend, KmsSettings } from './types.js';

export interface BootKmsOptions {
  keyUri: string;
  /** Keys still needed to unwrap blobs made before a rotation or migration. */
  previousKeyUris?: string[];
  settings: KmsSettings;
  profile: 'dev' | 'production';
  logger: Logger;
  metrics: KmsMetrics;
}

export class KmsBootError extends KmsConfigError {
  override name = 'KmsBootError';
}

export async function bootKms(opts: BootKmsOptions): Promise<Kms> {
  const open = async (uri: string): Promise<KmsBackend> => {
    try {
      return await openBackend(uri, opts.settings);
    } catch (err) {
      const why = err instanceof CryptoError ? err.message : `unexpected error: ${(err as Error).message}`;
      throw new KmsBootError(`KMS key ${uri} is not usable, refusing to start: ${why}`);
    }
  };
  const opened: KmsBackend[] = [];
  try {
    const current = await open(opts.keyUri);
    opened.push(current);
    for (const uri of opts.previousKeyUris ?? []) opened.push(await open(uri));
    opts.logger.info(
      { backend: current.name, keyId: current.keyId, previousKeys: opened.length - 1 },
      'KMS ready',
    );
    if (current.name === 'local' && opts.profile !== 'dev') {
      opts.logger.warn(
        { backend: 'local' },
        'the local KMS backend keeps the master key in this process; use a cloud KMS, Vault/OpenBao transit or an HSM in production',
      );
    }
    return createKms({ current, previous: opened.slice(1), metrics: opts.metrics });
  } catch (err) {
    await Promise.allSettled(opened.map((b) => b.close()));
    throw err;
  }
}
