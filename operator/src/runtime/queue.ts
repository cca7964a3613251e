// The per-key work queue of a controller, shaped like client-go's rate-limited workqueue:
// a key is queued at most once however many events name it; a key being processed is not handed
// to a second worker, and an add while it is processed queues it again after done(); failures
// back off per key (exponential, capped, jittered) and every rate-limited add also takes a token
// from a global bucket, so a burst of failing keys cannot hammer the apiserver or the API.
import { backoffDelay, TEN_PERCENT_JITTER } from '../../../common/src/backoff.js';

export interface WorkQueueOptions {
  /** First retry delay of a failing key; doubles per failure. Default 5 ms. */
  baseDelayMs?: number;
  /** Cap of the per-key delay. Default 60 s. */
  maxDelayMs?: number;
  /** Global token bucket for rate-limited adds: refill rate per second (default 50)... */
  qps?: number;
  /** ...and bucket size (default 100). */
  burst?: number;
  /** Source of jitter in [0, 1); tests may pin it. */
  random?: () => number;
}

export interface WorkQueue {
  /** Queues the key unless it is already queued; a key being processed is queued again after done(). */
  add(key: string): void;
  /** Adds the key after the delay; of several pending delays for one key the earliest wins. */
  addAfter(key: string, delayMs: number): void;
  /** Adds after the larger of the key's backoff (which then grows) and the global bucket's delay. */
  addRateLimited(key: string): void;
  /** Resets the key's backoff (after a success, or a failure that must not be retried). */
  forget(key: string): void;
  /** Waits for a key and marks it processing; undefined once the queue is shut down. */
  get(): Promise<string | undefined>;
  /** Marks the key's processing finished. */
  done(key: string): void;
  /** Keys waiting to be handed out (not counting delayed or processing keys). */
  len(): number;
  /** Failures recorded for the key since its last forget(). */
  numRequeues(key: string): number;
  /** Stops handing out keys: waiting and later get() calls return undefined; delayed adds are dropped. */
  shutDown(): void;
  isShuttingDown(): boolean;
}

export function createWorkQueue(opts: WorkQueueOptions = {}): WorkQueue {
  const baseDelayMs = opts.baseDelayMs ?? 5;
  const maxDelayMs = opts.maxDelayMs ?? 60_000;
  const qps = opts.qps ?? 50;
  const burst = opts.burst ?? 100;
  // The backoff before retry n (n = failures so far): base·2ⁿ, capped, jittered ±10% under the cap.
  const backoff = {
    baseMs: baseDelayMs,
    maxMs: maxDelayMs,
    jitter: TEN_PERCENT_JITTER,
    random: opts.random ?? Math.random,
  };

  const queue: string[] = [];
  let head = 0; // index of the next key in `queue`; compacted now and then instead of shift()
  const dirty = new Set<string>(); // needs processing (queued, or to be queued after done())
  const processing = new Set<string>();
  const waiters: ((key: string | undefined) => void)[] = [];
  const delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  const failures = new Map<string, number>();
  let tokens = burst;
  let refilledAt = Date.now();
  let shuttingDown = false;

  const take = (): string | undefined => {
    if (head >= queue.length) return undefined;
    const key = queue[head] as string;
    head++;
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    return key;
  };

  const push = (key: string) => {
    const waiter = waiters.shift();
    if (waiter) {
      dirty.delete(key);
      processing.add(key);
      waiter(key);
    } else {
      queue.push(key);
    }
  };

  const add = (key: string) => {
    if (shuttingDown || dirty.has(key)) return;
    dirty.add(key);
    if (processing.has(key)) return;
    push(key);
  };

  const addAfter = (key: string, delayMs: number) => {
    if (shuttingDown) return;
    if (!(delayMs > 0)) {
      add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      delayed.delete(key);
      add(key);
    }, delayMs);
    timer.unref();
    delayed.set(key, { at, timer });
  };

  /** Reserves one token and returns how long to wait for it (golang.org/x/time/rate semantics). */
  const bucketDelay = (): number => {
    const now = Date.now();
    tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * qps);
    refilledAt = now;
    tokens -= 1;
    return tokens >= 0 ? 0 : (-tokens / qps) * 1000;
  };

  return {
    add,
    addAfter,
    addRateLimited(key) {
      if (shuttingDown) return;
      const n = failures.get(key) ?? 0;
      failures.set(key, n + 1);
      addAfter(key, Math.max(backoffDelay(n, backoff), bucketDelay()));
    },
    forget(key) {
      failures.delete(key);
    },
    get() {
      if (shuttingDown) return Promise.resolve(undefined);
      const key = take();
      if (key !== undefined) {
        dirty.delete(key);
        processing.add(key);
        return Promise.resolve(key);
      }
      return new Promise((resolve) => waiters.push(resolve));
    },
    done(key) {
      processing.delete(key);
      if (dirty.has(key) && !shuttingDown) push(key);
    },
    len: () => queue.length - head,
    numRequeues: (key) => failures.get(key) ?? 0,
    shutDown() {
      if (shuttingDown) return;
      shuttingDown = true;
      for (const { timer } of delayed.values()) clearTimeout(timer);
      delayed.clear();
      for (const w of waiters.splice(0)) w(undefined);
    },
    isShuttingDown: () => shuttingDown,
  };
}
