// The KMS facade the rest of oneclaw uses: wraps with the current root key into a
// self-describing blob, and unwraps any blob by routing to the key it names (the current key
// or one kept for decryption after a rotation or migration). Calls are bounded, retried with
// jitter when the KMS is unavailable, and counted.
import { encodeFields } from '../crypto/encoding.js';
import { IntegrityError } from '../crypto/errors.js';
import { decodeKmsBlob, encodeKmsBlob } from './blob.js';
import type { KmsMetrics } from './metrics.js';
import { defaultRetry, type RetryOptions, withRetry } from './retry.js';
import type { KmsBackend, WrapContext } from './types.js';

export function contextAad(context: WrapContext): Buffer {
  const keys = Object.keys(context).sort();
  return encodeFields(
    'oneclaw/kms-context/v1',
    keys.flatMap((k) => [k, context[k] ?? '']),
  );
}

export interface Kms {
  readonly current: KmsBackend;
  wrap(plaintext: Buffer, context: WrapContext): Promise<Buffer>;
  unwrap(blob: Buffer, context: WrapContext): Promise<Buffer>;
  /** Which root key a blob names, without calling the KMS. */
  keyOf(blob: Buffer): { backend: string; keyId: string; keyVersion: string };
  close(): Promise<void>;
}

export interface KmsOptions {
  current: KmsBackend;
  /** Keys kept for unwrapping blobs made before a rotation to another key or backend. */
  previous?: KmsBackend[];
  metrics: KmsMetrics;
  retry?: RetryOptions;
}

export function createKms(opts: KmsOptions): Kms {
  const { current, metrics } = opts;
  const retry = opts.retry ?? defaultRetry;
  const byId = new Map<string, KmsBackend>();
  for (const b of [...(opts.previous ?? []), current]) byId.set(`${b.name}\0${b.keyId}`, b);

  async function call<T>(backend: KmsBackend, operation: string, fn: () => Promise<T>): Promise<T> {
    const end = metrics.duration.startTimer({ backend: backend.name, operation });
    try {
      const out = await withRetry(fn, retry);
      metrics.calls.inc({ backend: backend.name, operation, outcome: 'ok' });
      return out;
    } catch (err) {
      metrics.calls.inc({ backend: backend.name, operation, outcome: (err as Error).name ?? 'Error' });
      throw err;
    } finally {
      end();
    }
  }

  return {
    current,
    async wrap(plaintext, context) {
      const aad = contextAad(context);
      const w = await call(current, 'wrap', () => current.wrap(plaintext, aad, context));
      return encodeKmsBlob({
        backend: current.name,
        keyId: current.keyId,
        keyVersion: w.keyVersion,
        ciphertext: w.ciphertext,
      });
    },
    async unwrap(blob, context) {
      const parsed = decodeKmsBlob(blob);
      const backend = byId.get(`${parsed.backend}\0${parsed.keyId}`);
      if (!backend) {
        // A tampered header and a key removed from configuration look the same from here.
        throw new IntegrityError(
          `blob names ${parsed.backend} key ${parsed.keyId}, which is not configured (tampered, or a previous key is missing)`,
        );
      }
      const aad = contextAad(context);
      return call(backend, 'unwrap', () =>
        backend.unwrap(parsed.ciphertext, parsed.keyVersion, aad, context),
      );
    },
    keyOf(blob) {
      const { backend, keyId, keyVersion } = decodeKmsBlob(blob);
      return { backend, keyId, keyVersion };
    },
    async close() {
      await Promise.allSettled([...byId.values()].map((b) => b.close()));
    },
  };
}
