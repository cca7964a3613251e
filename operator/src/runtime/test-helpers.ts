// Helpers shared by the runtime's tests (not shipped: imported by *.test.ts only).

import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export { eventually } from '../../../test/support/eventually.js';

/** A pino logger whose JSON lines are kept in `lines`. */
export function captureLogger(level: pino.Level = 'debug'): {
  logger: Logger;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
