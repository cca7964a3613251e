// Polls until a probe yields a value (anything but undefined or false) or the time runs out;
// the last error a probe threw is named in the timeout. Shared by tests that wait on a cluster.
import { setTimeout as sleep } from 'node:timers/promises';

export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out: ${what}${last ? ` (${String(last)})` : ''}`);
}
