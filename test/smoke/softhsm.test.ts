import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Peer } from '../support/peers/common.js';
import { type SoftHsmInfo, startSoftHsm } from '../support/peers/softhsm.js';

describe('PKCS#11 peer (SoftHSM2)', () => {
  let hsm: Peer<SoftHsmInfo>;
  const p11 = new pkcs11js.PKCS11();
  let session: Buffer;

  beforeAll(async () => {
    hsm = await startSoftHsm('smoke');
    // The module reads its configuration at C_Initialize; this test process is its own.
    process.env.SOFTHSM2_CONF = hsm.info.conf;
    p11.load(hsm.info.module);
    p11.C_Initialize();
  });

  afterAll(async () => {
    if (session) p11.C_CloseSession(session);
    p11.C_Finalize();
    p11.close();
    await hsm?.stop();
  });

  it('lists the initialised token and logs in', () => {
    const slots = p11.C_GetSlotList(true);
    const slot = slots.find((s) => p11.C_GetTokenInfo(s).label.trim() === 'smoke');
    expect(slot).toBeDefined();
    expect(p11.C_GetInfo().manufacturerID.trim()).toBe('SoftHSM');
    session = p11.C_OpenSession(slot as Buffer, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p11.C_Login(session, pkcs11js.CKU_USER, hsm.info.pin);
  });

  it('generates a sensitive AES-256 key that encrypts with GCM and binds the AAD', () => {
    const key = p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_LABEL, value: 'smoke-kek' },
    ]);
    // The key material never leaves the token.
    expect(() => p11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
      /CKR_ATTRIBUTE_SENSITIVE/,
    );

    const iv = randomBytes(12);
    const gcm = (aad: Buffer) => ({
      mechanism: pkcs11js.CKM_AES_GCM,
      parameter: { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, aad, ivBits: 96, tagBits: 128 },
    });
    const plaintext = randomBytes(32);
    const aad = Buffer.from('vault=v1;kek_version=1');
    p11.C_EncryptInit(session, gcm(aad), key);
    const sealed = Buffer.from(p11.C_Encrypt(session, plaintext, Buffer.alloc(plaintext.length + 16)));
    expect(sealed.length).toBe(48);

    p11.C_DecryptInit(session, gcm(aad), key);
    const opened = Buffer.from(p11.C_Decrypt(session, sealed, Buffer.alloc(sealed.length)));
    expect(opened).toEqual(plaintext);

    p11.C_DecryptInit(session, gcm(Buffer.from('vault=v2;kek_version=1')), key);
    expect(() => p11.C_Decrypt(session, sealed, Buffer.alloc(sealed.length))).toThrow(/CKR_/);
  });
});
