import { beforeAll, describe, expect, it } from 'vitest';
import { sharedPeer, uniqueName } from '../support/fixtures.js';
import type { OpenBaoInfo } from '../support/peers/openbao.js';

async function bao<T>(info: OpenBaoInfo, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${info.address}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': info.token, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as T;
}

describe('OpenBao transit peer', () => {
  let info: OpenBaoInfo;
  beforeAll(async () => {
    info = await sharedPeer('openbao');
  });

  it('is OpenBao, unsealed', async () => {
    const status = await bao<{ sealed: boolean; version: string; build_date: string }>(
      info,
      'GET',
      'sys/seal-status',
    );
    expect(status.sealed).toBe(false);
    expect(status.version).toMatch(/^2\./);
  });

  it('encrypts and decrypts through transit, and rejects a tampered ciphertext', async () => {
    const key = uniqueName('smoke');
    await bao(info, 'POST', `${info.transitMount}/keys/${key}`, { type: 'aes256-gcm96' });
    const plaintext = Buffer.from('thirty-two bytes of kek material').toString('base64');
    const enc = await bao<{ data: { ciphertext: string } }>(
      info,
      'POST',
      `${info.transitMount}/encrypt/${key}`,
      {
        plaintext,
      },
    );
    expect(enc.data.ciphertext).toMatch(/^vault:v1:/);
    const dec = await bao<{ data: { plaintext: string } }>(
      info,
      'POST',
      `${info.transitMount}/decrypt/${key}`,
      {
        ciphertext: enc.data.ciphertext,
      },
    );
    expect(dec.data.plaintext).toBe(plaintext);

    const raw = Buffer.from(enc.data.ciphertext.slice('vault:v1:'.length), 'base64');
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
    await expect(
      bao(info, 'POST', `${info.transitMount}/decrypt/${key}`, {
        ciphertext: `vault:v1:${raw.toString('base64')}`,
      }),
    ).rejects.toThrow(/HTTP 400/);
  });

  it('signs with an ed25519 key and verifies the signature', async () => {
    const key = uniqueName('sign');
    await bao(info, 'POST', `${info.transitMount}/keys/${key}`, { type: 'ed25519' });
    const input = Buffer.from('header.payload').toString('base64');
    const sig = await bao<{ data: { signature: string } }>(info, 'POST', `${info.transitMount}/sign/${key}`, {
      input,
    });
    const ok = await bao<{ data: { valid: boolean } }>(info, 'POST', `${info.transitMount}/verify/${key}`, {
      input,
      signature: sig.data.signature,
    });
    expect(ok.data.valid).toBe(true);
    const other = Buffer.from('header.other').toString('base64');
    const bad = await bao<{ data: { valid: boolean } }>(info, 'POST', `${info.transitMount}/verify/${key}`, {
      input: other,
      signature: sig.data.signature,
    });
    expect(bad.data.valid).toBe(false);
  });
});
