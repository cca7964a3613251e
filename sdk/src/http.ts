// The client's HTTP plumbing, free of client state: query strings, lenient JSON, network-error
// codes, Retry-After, per-attempt deadlines joined with the caller's signal, and abortable waits.
import { ABORTED, OneclawError, TIMEOUT } from './errors.js';

export type Query = Record<string, string | number | boolean | undefined>;

export function queryString(q: Query | undefined): string {
  if (!q) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** ` (ECONNREFUSED)`: the cause's code only; fetch's messages are not ours to forward. */
export function describeNetworkError(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.cause?.code ?? e?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,64}$/.test(code) ? ` (${code})` : '';
}

/** Retry-After as delta-seconds or an HTTP date, in ms; undefined if absent or unreadable. */
export function retryAfterMs(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Failures `events.follow` outlives: no answer, or the API or a gateway briefly unavailable. */
export function followRetries(err: OneclawError): boolean {
  return (
    ((err.status === 0 && err.code !== ABORTED) || [429, 502, 503, 504].includes(err.status)) &&
    err.code !== 'invalid_request'
  );
}

export interface Deadline {
  signal: AbortSignal;
  timedOut(): boolean;
  done(): void;
}

/** An abort signal that fires after `ms` or when `caller` aborts; `done()` releases both. */
export function deadline(ms: number, caller: AbortSignal | undefined): Deadline {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(new OneclawError(0, TIMEOUT, `no answer within ${ms} ms`));
  }, ms);
  const onAbort = () => ac.abort(caller?.reason);
  if (caller?.aborted) onAbort();
  else caller?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: ac.signal,
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}

export function abortedError(): OneclawError {
  return new OneclawError(0, ABORTED, 'aborted by the caller');
}

/** Waits `ms`; rejects with an `aborted` OneclawError when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `p`, or an `aborted` rejection as soon as `signal` aborts (p itself goes on). */
export function withSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
