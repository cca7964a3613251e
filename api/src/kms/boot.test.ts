import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedPeer } from '../../../test/support/fixtures.js';
import { freePort } from '../../../test/support/ports.js';
import { IntegrityError, KmsUnavailableError } from '../crypto/errors.js';
import { bootKms, KmsBootError } from './boot.js';
import { createKmsMetrics } from './metrics.js';
import { openBackend } from './registry.js';
import { withRetry } from './retry.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { logger, lines };
}

const localKey = randomBytes(32);

/** Boots the local backend in `profile`, logging to a capture. */
async function bootLocal(profile: 'dev' | 'production') {
  const { logger, lines } = capture();
  const kms = await bootKms({
    keyUri: 'local://main',
    settings: { local: { masterKeys: { main: localKey } } },
    profile,
    logger,
    metrics: createKmsMetrics(new Registry()),
  });
  return { kms, lines };
}

describe('bootKms', () => {
  it('logs the resolved backend and key id, and warns about the local backend outside dev', async () => {
    const { kms, lines } = await bootLocal('production');
    const ready = lines.find((l) => l.msg === 'KMS ready');
    expect(ready).toMatchObject({ backend: 'local', keyId: kms.current.keyId });
    expect(lines.some((l) => l.level === 40 && /local KMS backend/.test(String(l.msg)))).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(localKey.toString('base64'));
    await kms.close();
  });

  it('does not warn in the dev profile', async () => {
    const { kms, lines } = await bootLocal('dev');
    expect(lines.filter((l) => l.level === 40)).toEqual([]);
    await kms.close();
  });

  it('refuses to start, naming the key, when the KMS is unreachable — no fallback', async () => {
    const { logger } = capture();
    const port = await freePort();
    const err = await bootKms({
      keyUri: 'transit://transit/kek',
      settings: { transit: { address: `http://127.0.0.1:${port}`, token: 's3cr3t-token' }, timeoutMs: 1_000 },
      profile: 'production',
      logger,
      metrics: createKmsMetrics(new Registry()),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KmsBootError);
    expect((err as Error).message).toMatch(
      /transit:\/\/transit\/kek is not usable, refusing to start: .*unreachable/,
    );
    expect((err as Error).message).not.toContain('s3cr3t-token');
  });

  it('refuses to start when a previous key is not usable', async () => {
    const { logger } = capture();
    const err = await bootKms({
      keyUri: 'local://main',
      previousKeyUris: ['local://old'],
      settings: { local: { masterKeys: { main: localKey } } },
      profile: 'dev',
      logger,
      metrics: createKmsMetrics(new Registry()),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KmsBootError);
    expect((err as Error).message).toMatch(/local:\/\/old/);
  });

  it('refuses a transit key of the wrong type', async () => {
    const bao = await sharedPeer('openbao');
    const name = `sign-${process.pid}-${Date.now()}`;
    await fetch(`${bao.address}/v1/transit/keys/${name}`, {
      method: 'POST',
      headers: { 'x-vault-token': bao.token },
      body: JSON.stringify({ type: 'ed25519' }),
    });
    const err = await bootKms({
      keyUri: `transit://transit/${name}`,
      settings: { transit: { address: bao.address, token: bao.token } },
      profile: 'production',
      logger: capture().logger,
      metrics: createKmsMetrics(new Registry()),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/is ed25519; oneclaw needs an aes256-gcm96 key/);
  });
});

describe('bounded KMS calls', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/v1/redirect/')) {
        res.writeHead(307, { location: 'http://127.0.0.1:1/elsewhere' });
        res.end();
      } else if (req.url?.startsWith('/v1/huge/')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"data":{"type":"${'x'.repeat(2 << 20)}"}}`);
      } else {
        // never answers
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('does not follow redirects', async () => {
    const err = await openBackend('transit://redirect/k', { transit: { address: base, token: 't' } }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(KmsUnavailableError);
  });

  it('caps the response size', async () => {
    const err = await openBackend('transit://huge/k', { transit: { address: base, token: 't' } }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(KmsUnavailableError);
    expect((err as Error).message).toMatch(/larger than/);
  });

  it('times out a KMS that never answers', async () => {
    const t0 = Date.now();
    const err = await openBackend('transit://silent/k', {
      transit: { address: base, token: 't' },
      timeoutMs: 300,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(KmsUnavailableError);
    expect((err as Error).message).toMatch(/no answer within 300 ms/);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });
});

describe('withRetry', () => {
  it('retries an unavailable KMS with backoff, and succeeds when it comes back', async () => {
    let calls = 0;
    const out = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw new KmsUnavailableError('down');
        return 'ok';
      },
      { attempts: 3, baseMs: 1, maxMs: 5 },
    );
    expect(out).toBe('ok');
    expect(calls).toBe(3);
  });

  it('gives up after the last attempt, and never retries an integrity failure', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new KmsUnavailableError('down');
        },
        { attempts: 4, baseMs: 1, maxMs: 2 },
      ),
    ).rejects.toBeInstanceOf(KmsUnavailableError);
    expect(calls).toBe(4);
    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new IntegrityError('tampered');
      }),
    ).rejects.toBeInstanceOf(IntegrityError);
    expect(calls).toBe(1);
  });
});
