// Bounded HTTP for KMS backends that speak HTTP: a timeout on every call, no redirects
// (a KMS endpoint that redirects is misconfigured or hostile), and a cap on response size.
import { KmsUnavailableError } from '../crypto/errors.js';

const MAX_RESPONSE_BYTES = 1 << 20;

export interface BoundedResponse {
  status: number;
  body: string;
}

export async function boundedFetch(
  url: string,
  init: RequestInit & { timeoutMs: number },
): Promise<BoundedResponse> {
  const { timeoutMs, ...rest } = init;
  let res: Response;
  try {
    res = await fetch(url, { ...rest, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const why =
      (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'connection failed';
    throw new KmsUnavailableError(`KMS endpoint ${new URL(url).origin} unreachable: ${why}`);
  }
  const reader = res.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read().catch(() => {
        throw new KmsUnavailableError(`KMS endpoint ${new URL(url).origin}: response interrupted`);
      });
      if (done) break;
      size += value.byteLength;
      if (size > MAX_RESPONSE_BYTES) {
        await reader.cancel();
        throw new KmsUnavailableError(
          `KMS endpoint ${new URL(url).origin}: response larger than ${MAX_RESPONSE_BYTES} bytes`,
        );
      }
      chunks.push(value);
    }
  }
  return { status: res.status, body: Buffer.concat(chunks).toString('utf8') };
}
