// Retry delays shared by every loop that waits before trying again (KMS calls, the change
// feed's LISTEN connection, the SDK's requests, the operator's queue, watches and leader
// election). Jitter keeps many replicas or clients that failed together from retrying in
// lockstep; each caller picks how wide it spreads.

/**
 * The range a delay is multiplied by, drawn uniformly: `[min, max)`. The named spreads are the
 * ones oneclaw uses; a caller may pass its own.
 */
export interface Jitter {
  min: number;
  max: number;
}

/** Anywhere from nothing up to the delay ("full jitter"): spreads retries the most. */
export const FULL_JITTER: Jitter = { min: 0, max: 1 };
/** Between half and all of the delay ("equal jitter"): never retries at once, still spreads. */
export const EQUAL_JITTER: Jitter = { min: 0.5, max: 1 };
/** Within ±10% of the delay: keeps the schedule, breaks the lockstep. */
export const TEN_PERCENT_JITTER: Jitter = { min: 0.9, max: 1.1 };

export interface BackoffOptions {
  /** The delay before the first retry (attempt 0); it doubles with each attempt. */
  baseMs: number;
  /** No delay is longer than this, jitter included. */
  maxMs: number;
  jitter: Jitter;
  /** Source of randomness in [0, 1); tests pin it. Default Math.random. */
  random?: () => number;
}

/** `ms` spread by `jitter`. */
export function jittered(ms: number, jitter: Jitter, random: () => number = Math.random): number {
  return ms * (jitter.min + (jitter.max - jitter.min) * random());
}

/**
 * The delay before retry `attempt` (0 for the first): base·2^attempt capped at `maxMs`, then
 * jittered and capped again so a spread above 1 never passes the cap.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  // 2^52 already exceeds any cap; clamping keeps a long outage's attempt count from reaching Infinity.
  const exponential = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(Math.max(attempt, 0), 52));
  return Math.min(opts.maxMs, jittered(exponential, opts.jitter, opts.random));
}
