import { createPublicKey, randomBytes, verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Peer } from '../../../../test/support/peers/common.js';
import { type SoftHsmInfo, startSoftHsm } from '../../../../test/support/peers/softhsm.js';
import { IntegrityError, KmsConfigError, KmsUnavailableError } from '../../crypto/errors.js';
import { openBackend, openSigner } from '../registry.js';
import type { KmsBackend, PublicJwk } from '../types.js';
import { createPkcs11Ed25519KeyPair, createPkcs11Key, type Pkcs11Backend } from './pkcs11/index.js';

const TOKEN = 'kms-test';

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

function flipBit(buf: Buffer, byte: number): Buffer {
  const out = Buffer.from(buf);
  out[byte] = (out[byte] ?? 0) ^ 0x01;
  return out;
}

function verifyWithJwk(jwk: PublicJwk, data: Buffer, sig: Buffer): boolean {
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' });
  return verify(null, data, key, sig);
}

describe('PKCS#11 backend (SoftHSM2)', () => {
  let hsm: Peer<SoftHsmInfo>;
  let info: SoftHsmInfo;
  const opened: KmsBackend[] = [];
  const uri = (label: string, token = TOKEN) => `pkcs11://${token}/${label}?module=${info.module}`;
  const target = (label: string) => ({ module: info.module, token: TOKEN, pin: info.pin, label });
  const open = async (label = 'root', pin?: string): Promise<Pkcs11Backend> => {
    const b = (await openBackend(uri(label), { pkcs11: { pin: pin ?? info.pin } })) as Pkcs11Backend;
    opened.push(b);
    return b;
  };

  /** A second handle on the same loaded library, to look at the token from outside the backend. */
  const raw = () => {
    const p11 = new pkcs11js.PKCS11();
    p11.load(info.module);
    return p11;
  };

  beforeAll(async () => {
    hsm = await startSoftHsm(TOKEN);
    info = hsm.info;
    // SoftHSM2 reads its configuration at C_Initialize, which happens when a backend opens.
    process.env.SOFTHSM2_CONF = info.conf;
    await createPkcs11Key(target('root'));
    await createPkcs11Ed25519KeyPair(target('root'));
  });

  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((b) => b.close()));
  });

  afterAll(async () => {
    await hsm?.stop();
  });

  it('wraps and unwraps inside the token, bound to the AAD, with a random IV', async () => {
    const b = await open();
    expect(b.name).toBe('pkcs11');
    expect(b.keyId).toBe(`pkcs11:${TOKEN}/root`);
    const secret = randomBytes(32);
    const aad = Buffer.from('org=1;vault=v1;kek_version=1');
    const w = await b.wrap(secret, aad, {});
    expect(w.keyVersion).toMatch(/^[0-9a-f]{16}$/);
    expect(w.ciphertext.length).toBe(12 + 32 + 16);
    expect(w.ciphertext.includes(secret)).toBe(false);
    expect(await b.unwrap(w.ciphertext, w.keyVersion, aad, {})).toEqual(secret);
    const again = await b.wrap(secret, aad, {});
    expect(again.ciphertext.subarray(0, 12).equals(w.ciphertext.subarray(0, 12))).toBe(false);
    expect(again.ciphertext.equals(w.ciphertext)).toBe(false);

    const empty = await b.wrap(Buffer.alloc(0), aad, {});
    expect(empty.ciphertext.length).toBe(28);
    expect((await b.unwrap(empty.ciphertext, empty.keyVersion, aad, {})).length).toBe(0);
  });

  it('keeps the key in the token: sensitive, non-extractable, persistent, with an 8-byte id', async () => {
    const b = await open();
    const { keyVersion } = await b.wrap(Buffer.alloc(32, 1), Buffer.alloc(0), {});
    const p11 = raw();
    try {
      const slot = p11
        .C_GetSlotList(true)
        .find((s) => p11.C_GetTokenInfo(s).label.trim() === TOKEN) as Buffer;
      const s = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      p11.C_FindObjectsInit(s, [
        { type: pkcs11js.CKA_LABEL, value: 'root' },
        { type: pkcs11js.CKA_ID, value: Buffer.from(keyVersion, 'hex') },
      ]);
      const [key] = p11.C_FindObjects(s, 10);
      p11.C_FindObjectsFinal(s);
      expect(key).toBeDefined();
      const attrs = p11.C_GetAttributeValue(s, key as Buffer, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_TOKEN },
        { type: pkcs11js.CKA_PRIVATE },
        { type: pkcs11js.CKA_ID },
      ]);
      expect(attrs.map((a) => a.value.toString('hex'))).toEqual(['01', '00', '01', '01', keyVersion]);
      expect(keyVersion.length).toBe(16);
      expect(() => p11.C_GetAttributeValue(s, key as Buffer, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
      p11.C_CloseSession(s);
    } finally {
      p11.close();
    }
  });

  it('rejects another AAD, any flipped bit, truncation and unknown versions with IntegrityError', async () => {
    const b = await open();
    const aad = Buffer.from('vault=v1');
    const w = await b.wrap(randomBytes(32), aad, {});

    const wrongAad = await failure(b.unwrap(w.ciphertext, w.keyVersion, Buffer.from('vault=v2'), {}));
    expect(wrongAad).toBeInstanceOf(IntegrityError);
    expect((wrongAad as Error).message).toBe('PKCS#11 unwrap failed: authentication failed');
    expect(await failure(b.unwrap(w.ciphertext, w.keyVersion, Buffer.alloc(0), {}))).toBeInstanceOf(
      IntegrityError,
    );

    for (let i = 0; i < w.ciphertext.length; i++) {
      const err = await failure(b.unwrap(flipBit(w.ciphertext, i), w.keyVersion, aad, {}));
      expect(err, `byte ${i}`).toBeInstanceOf(IntegrityError);
    }
    const short = await failure(b.unwrap(w.ciphertext.subarray(0, 27), w.keyVersion, aad, {}));
    expect(short).toBeInstanceOf(IntegrityError);
    const cut = await failure(
      b.unwrap(w.ciphertext.subarray(0, w.ciphertext.length - 1), w.keyVersion, aad, {}),
    );
    expect(cut).toBeInstanceOf(IntegrityError);

    const missing = await failure(b.unwrap(w.ciphertext, '00000000000000ff', aad, {}));
    expect(missing).toBeInstanceOf(IntegrityError);
    expect((missing as Error).message).toMatch(/key version 00000000000000ff not found/);
    for (const bad of ['', 'xyz', '0', w.keyVersion.toUpperCase()]) {
      expect(await failure(b.unwrap(w.ciphertext, bad, aad, {})), bad).toBeInstanceOf(IntegrityError);
    }

    // The session is still usable after all those failures.
    expect(await b.unwrap(w.ciphertext, w.keyVersion, aad, {})).toHaveLength(32);
  });

  it('rotates: new wraps use a greater version, old ciphertexts still unwrap with theirs', async () => {
    const label = 'rot';
    const first = await createPkcs11Key(target(label));
    const b = await open(label);
    const other = await open(label);
    const aad = Buffer.from('ctx');
    const before = await b.wrap(Buffer.alloc(32, 3), aad, {});
    expect(before.keyVersion).toBe(first);

    await b.rotate?.();
    const after = await b.wrap(Buffer.alloc(32, 4), aad, {});
    expect(after.keyVersion).not.toBe(before.keyVersion);
    expect(BigInt(`0x${after.keyVersion}`) > BigInt(`0x${before.keyVersion}`)).toBe(true);
    expect(await b.unwrap(before.ciphertext, before.keyVersion, aad, {})).toEqual(Buffer.alloc(32, 3));
    expect(await b.unwrap(after.ciphertext, after.keyVersion, aad, {})).toEqual(Buffer.alloc(32, 4));
    // Each version is its own key: the old ciphertext does not open under the new version.
    expect(await failure(b.unwrap(before.ciphertext, after.keyVersion, aad, {}))).toBeInstanceOf(
      IntegrityError,
    );

    // A backend opened before the rotation (another replica) wraps with the new version too.
    expect((await other.wrap(Buffer.alloc(32, 5), aad, {})).keyVersion).toBe(after.keyVersion);
    expect(await other.unwrap(before.ciphertext, before.keyVersion, aad, {})).toEqual(Buffer.alloc(32, 3));

    // Versions still increase when the clock stands still or goes backwards.
    const clock = vi.spyOn(Date, 'now').mockReturnValue(1);
    let v1: string;
    let v2: string;
    try {
      v1 = await createPkcs11Key(target(label));
      v2 = await createPkcs11Key(target(label));
    } finally {
      clock.mockRestore();
    }
    expect(BigInt(`0x${v2}`) > BigInt(`0x${v1}`)).toBe(true);
    expect(BigInt(`0x${v1}`) > BigInt(`0x${after.keyVersion}`)).toBe(true);
    expect((await b.wrap(Buffer.alloc(32), aad, {})).keyVersion).toBe(v2);
  });

  it('serializes concurrent calls on its session', async () => {
    const b = await open();
    const aad = Buffer.from('concurrent');
    const secrets = Array.from({ length: 40 }, () => randomBytes(32));
    const wrapped = await Promise.all(secrets.map((s) => b.wrap(s, aad, {})));
    const back = await Promise.all(wrapped.map((w) => b.unwrap(w.ciphertext, w.keyVersion, aad, {})));
    expect(back).toEqual(secrets);
  });

  it('fails closed with KmsConfigError when there is no key with the label', async () => {
    const err = await failure(open('nope'));
    expect(err).toBeInstanceOf(KmsConfigError);
    expect((err as Error).message).toBe(`no AES key labelled "nope" on PKCS#11 token "${TOKEN}"`);
  });

  it('fails closed with KmsConfigError on a wrong PIN, without echoing it', async () => {
    const wrongPin = '97531';
    const alone = await failure(open('root', wrongPin));
    expect(alone).toBeInstanceOf(KmsConfigError);
    expect((alone as Error).message).toMatch(/PKCS#11 login failed/);
    expect((alone as Error).message).not.toContain(wrongPin);
    expect((alone as Error).message).not.toContain(info.pin);

    // Once this process is logged in, the token itself accepts any PIN; the backend does not.
    const good = await open();
    const alongside = await failure(open('root', wrongPin));
    expect(alongside).toBeInstanceOf(KmsConfigError);
    expect((alongside as Error).message).toMatch(/PKCS#11 login failed/);
    expect((alongside as Error).message).not.toContain(wrongPin);
    // The failed open did not disturb the backend that is logged in.
    const w = await good.wrap(Buffer.alloc(32, 6), Buffer.alloc(0), {});
    expect(await good.unwrap(w.ciphertext, w.keyVersion, Buffer.alloc(0), {})).toEqual(Buffer.alloc(32, 6));
  });

  it('fails closed with KmsConfigError on a wrong token, module or missing PIN', async () => {
    const token = await failure(openBackend(uri('root', 'other-token'), { pkcs11: { pin: info.pin } }));
    expect(token).toBeInstanceOf(KmsConfigError);
    expect((token as Error).message).toMatch(/no PKCS#11 token labelled "other-token"/);

    const noModule = await failure(openBackend(`pkcs11://${TOKEN}/root`, { pkcs11: { pin: info.pin } }));
    expect(noModule).toBeInstanceOf(KmsConfigError);
    expect((noModule as Error).message).toMatch(/ONECLAW_PKCS11_MODULE/);

    const badModule = await failure(
      openBackend(`pkcs11://${TOKEN}/root?module=/nonexistent/libnothing.so`, { pkcs11: { pin: info.pin } }),
    );
    expect(badModule).toBeInstanceOf(KmsConfigError);
    expect((badModule as Error).message).toMatch(/cannot load PKCS#11 module/);

    const noPin = await failure(openBackend(uri('root'), {}));
    expect(noPin).toBeInstanceOf(KmsConfigError);
  });

  it('takes the configured module (ONECLAW_PKCS11_MODULE) when the URI has none', async () => {
    const b = await openBackend(`pkcs11://${TOKEN}/root`, { pkcs11: { pin: info.pin, module: info.module } });
    opened.push(b);
    expect(b.keyId).toBe(`pkcs11:${TOKEN}/root`);
  });

  it('signs with the token’s Ed25519 key; node:crypto verifies against the published JWK', async () => {
    const b = await open();
    const signer = await b.signer();
    expect(signer).toBeDefined();
    if (!signer) return;
    expect(signer.alg).toBe('EdDSA');
    expect(signer.kid).toMatch(new RegExp(`^pkcs11:${TOKEN}/root-sign/[0-9a-f]{16}$`));
    const jwk = await signer.publicJwk();
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: signer.kid, alg: 'EdDSA', use: 'sig' });
    expect(JSON.stringify(jwk)).not.toMatch(/"d"/);
    expect(Buffer.from(jwk.x, 'base64url')).toHaveLength(32);

    const data = Buffer.from('eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0ZXN0In0');
    const sig = await signer.sign(data);
    expect(sig).toHaveLength(64);
    expect(verifyWithJwk(jwk, data, sig)).toBe(true);
    expect(verifyWithJwk(jwk, Buffer.concat([data, Buffer.from('x')]), sig)).toBe(false);
    expect(verifyWithJwk(jwk, data, flipBit(sig, 3))).toBe(false);

    // Through the registry, on its own session.
    const own = await openSigner(uri('root'), { pkcs11: { pin: info.pin } });
    try {
      expect(own.kid).toBe(signer.kid);
      expect(await own.publicJwk()).toEqual(jwk);
      expect(verifyWithJwk(jwk, data, await own.sign(data))).toBe(true);
    } finally {
      await own.close?.();
    }
  });

  it('has no signer for a label without a key pair, and openSigner says so', async () => {
    await createPkcs11Key(target('nosign'));
    const b = await open('nosign');
    expect(await b.signer()).toBeUndefined();
    const err = await failure(openSigner(uri('nosign'), { pkcs11: { pin: info.pin } }));
    expect(err).toBeInstanceOf(KmsConfigError);
    expect((err as Error).message).toMatch(/no Ed25519 key pair labelled "nosign-sign"/);
  });

  it('reports a lost session as KmsUnavailableError, then reopens it', async () => {
    const b = await open();
    const signer = (await b.signer()) as NonNullable<Awaited<ReturnType<Pkcs11Backend['signer']>>>;
    const aad = Buffer.from('reopen');
    const w = await b.wrap(Buffer.alloc(32, 7), aad, {});
    const p11 = raw();
    try {
      for (const slot of p11.C_GetSlotList(true)) p11.C_CloseAllSessions(slot);
    } finally {
      p11.close();
    }
    const lost = await failure(b.unwrap(w.ciphertext, w.keyVersion, aad, {}));
    expect(lost).toBeInstanceOf(KmsUnavailableError);
    expect((lost as Error).message).toMatch(/CKR_SESSION_HANDLE_INVALID|CKR_SESSION_CLOSED/);
    expect(await b.unwrap(w.ciphertext, w.keyVersion, aad, {})).toEqual(Buffer.alloc(32, 7));
    const data = Buffer.from('after reopen');
    expect(verifyWithJwk(await signer.publicJwk(), data, await signer.sign(data))).toBe(true);
  });

  it('shares one initialized module between backends and finalizes it with the last one', async () => {
    const a = await open();
    const b = await open();
    // Held loaded across the closes, so what is observed is finalization, not an unload.
    const p11 = raw();
    try {
      await a.close();
      expect(p11.C_GetSlotList(true).length).toBeGreaterThan(0);
      const w = await b.wrap(Buffer.alloc(32, 8), Buffer.alloc(0), {});
      expect(await b.unwrap(w.ciphertext, w.keyVersion, Buffer.alloc(0), {})).toEqual(Buffer.alloc(32, 8));
      await b.close();
      opened.splice(0);
      expect(() => p11.C_GetSlotList(true)).toThrow(/CKR_CRYPTOKI_NOT_INITIALIZED/);
    } finally {
      p11.close();
    }
    // And a closed backend refuses further use.
    expect(await failure(b.wrap(Buffer.alloc(1), Buffer.alloc(0), {}))).toBeInstanceOf(KmsConfigError);
  });
});
