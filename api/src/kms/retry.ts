import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, FULL_JITTER } from '../../../common/src/backoff.js';
import { KmsUnavailableError } from '../crypto/errors.js';

export interface RetryOptions {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const defaultRetry: RetryOptions = { attempts: 3, baseMs: 50, maxMs: 1_000 };

/**
 * Retries only what may succeed later (KmsUnavailableError), with exponential backoff and full
 * jitter so many replicas recovering together do not retry in lockstep.
 */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions = defaultRetry): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof KmsUnavailableError) || attempt >= opts.attempts) throw err;
      await sleep(backoffDelay(attempt - 1, { baseMs: opts.baseMs, maxMs: opts.maxMs, jitter: FULL_JITTER }));
    }
  }
}
