// pkcs11://<token label>/<key label>?module=/path/to/module.so: a root key inside an HSM (or
// SoftHSM2) reached through its PKCS#11 module. The root key is one or more AES-256 secret key
// objects sharing the label; each has a CKA_ID and the hex of that id is the key version, the
// greatest id being current. Wrapping is CKM_AES_GCM inside the token with a host-generated
// 96-bit IV and the binding context as GCM AAD; the blob is IV || ciphertext || tag.
// Signing (JWTs) uses an Ed25519 key pair labelled `<key label>-sign` and CKM_EDDSA.
//
// This file is the public API: the backend (wrap / unwrap / rotate), the signer, and the
// provisioning calls that create key versions. Sessions are in session.ts, token objects in
// objects.ts, the signer in signer.ts, error mapping in errors.ts.
import { randomBytes } from 'node:crypto';
import type { AesGCM, Mechanism, PKCS11 } from 'pkcs11js';
import pkcs11js from 'pkcs11js';
import { IntegrityError, KmsConfigError, KmsUnavailableError } from '../../../crypto/errors.js';
import type { KmsBackend, KmsSettings, KmsSigner } from '../../types.js';
import { decryptError, kmsError } from './errors.js';
import {
  aesKeys,
  generateAesKey,
  generateEd25519KeyPair,
  type KeyObject,
  rootKeyVersions,
} from './objects.js';
import { type Handle, TokenSession, type TokenTarget } from './session.js';
import { createSigner, type Pkcs11Uri, SIGN_SUFFIX } from './signer.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;

function gcm(iv: Buffer, aad: Buffer): Mechanism {
  const parameter: AesGCM = {
    type: pkcs11js.CK_PARAMS_AES_GCM_v240,
    iv,
    aad,
    ivBits: IV_BYTES * 8,
    tagBits: TAG_BYTES * 8,
  };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

const KEY_VERSION = /^(?:[0-9a-f]{2}){1,64}$/;

export interface Pkcs11Backend extends KmsBackend {
  /** The Ed25519 signer labelled `<key label>-sign` on the same session, if the token has one. */
  signer(): Promise<KmsSigner | undefined>;
}

function target(parsed: Pkcs11Uri, settings: KmsSettings): TokenTarget {
  // The URI's ?module= wins over the configured default.
  const module = parsed.module ?? settings.pkcs11?.module;
  if (!module) {
    throw new KmsConfigError(
      `no PKCS#11 module for ${parsed.uri}: add ?module=/path/to/module.so or set ONECLAW_PKCS11_MODULE`,
    );
  }
  const pin = settings.pkcs11?.pin;
  if (!pin)
    throw new KmsConfigError(`no PKCS#11 user PIN configured for token "${parsed.token}" (pkcs11.pin)`);
  return { module, token: parsed.token, pin };
}

export async function openPkcs11Backend(parsed: Pkcs11Uri, settings: KmsSettings): Promise<Pkcs11Backend> {
  const ts = TokenSession.open(target(parsed, settings));
  const { token, label } = parsed;
  try {
    await ts.run((p11, s) => rootKeyVersions(p11, s, token, label), kmsError(`reading key "${label}"`));
  } catch (err) {
    await ts.close();
    throw err;
  }
  const keyId = `pkcs11:${token}/${label}`;
  return {
    name: 'pkcs11',
    keyId,
    async wrap(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      return ts.run((p11, s) => {
        const current = rootKeyVersions(p11, s, token, label).at(-1) as KeyObject;
        p11.C_EncryptInit(s, gcm(iv, aad), current.handle);
        // pkcs11js cannot pass an empty input to C_Encrypt; the tag alone comes from C_EncryptFinal.
        const body =
          plaintext.length === 0
            ? p11.C_EncryptFinal(s, Buffer.alloc(TAG_BYTES))
            : p11.C_Encrypt(s, plaintext, Buffer.alloc(plaintext.length + TAG_BYTES));
        if (body.length !== plaintext.length + TAG_BYTES) {
          throw new KmsUnavailableError(`PKCS#11 wrap returned ${body.length} bytes for ${plaintext.length}`);
        }
        return { keyVersion: current.version, ciphertext: Buffer.concat([iv, body]) };
      }, kmsError('wrap'));
    },
    async unwrap(ciphertext, keyVersion, aad) {
      if (!KEY_VERSION.test(keyVersion)) throw new IntegrityError('PKCS#11 key blob: malformed key version');
      if (ciphertext.length < IV_BYTES + TAG_BYTES)
        throw new IntegrityError('PKCS#11 key blob: ciphertext too short');
      const iv = ciphertext.subarray(0, IV_BYTES);
      const body = ciphertext.subarray(IV_BYTES);
      let decrypting = false;
      return ts.run(
        (p11, s) => {
          const [key, ...more] = aesKeys(p11, s, label, Buffer.from(keyVersion, 'hex'));
          if (!key) throw new IntegrityError(`PKCS#11 key version ${keyVersion} not found for ${keyId}`);
          if (more.length > 0)
            throw new KmsConfigError(`two PKCS#11 keys labelled "${label}" share CKA_ID ${keyVersion}`);
          decrypting = true;
          p11.C_DecryptInit(s, gcm(iv, aad), key.handle);
          return Buffer.from(p11.C_Decrypt(s, body, Buffer.alloc(body.length)));
        },
        (err) => (decrypting ? decryptError(err) : kmsError('unwrap')(err)),
      );
    },
    async rotate() {
      await ts.run(
        (p11, s) => generateAesKey(p11, s, label),
        kmsError(`creating a version of key "${label}"`),
      );
    },
    async signer() {
      return createSigner(ts, parsed, false);
    },
    async close() {
      await ts.close();
    },
  };
}

/** pkcs11://<token>/<label>: the Ed25519 key pair labelled `<label>-sign` as the JWT signer. */
export async function openPkcs11Signer(parsed: Pkcs11Uri, settings: KmsSettings): Promise<KmsSigner> {
  const ts = TokenSession.open(target(parsed, settings));
  let signer: KmsSigner | undefined;
  try {
    signer = await createSigner(ts, parsed, true);
  } catch (err) {
    await ts.close();
    throw err;
  }
  if (!signer) {
    await ts.close();
    throw new KmsConfigError(
      `no Ed25519 key pair labelled "${parsed.label}${SIGN_SUFFIX}" on PKCS#11 token "${parsed.token}"`,
    );
  }
  return signer;
}

export interface Pkcs11KeyTarget {
  /** Absolute path of the PKCS#11 module. */
  module: string;
  /** Token label. */
  token: string;
  /** User PIN. */
  pin: string;
  /** Key label as in the URI (`pkcs11://<token>/<label>`). */
  label: string;
}

async function withToken<T>(t: Pkcs11KeyTarget, what: string, fn: (p11: PKCS11, s: Handle) => T): Promise<T> {
  const ts = TokenSession.open({ module: t.module, token: t.token, pin: t.pin });
  try {
    return await ts.run(fn, kmsError(what));
  } finally {
    await ts.close();
  }
}

/**
 * Creates a new version of the AES-256 root key labelled `label`: persistent, private,
 * sensitive, non-extractable, encrypt/decrypt only, with a CKA_ID above every existing
 * version's. Returns the new key version (hex CKA_ID).
 */
export async function createPkcs11Key(t: Pkcs11KeyTarget): Promise<string> {
  return withToken(t, `creating key "${t.label}"`, (p11, s) => generateAesKey(p11, s, t.label));
}

/**
 * Creates a new version of the Ed25519 signing key pair labelled `<label>-sign` (private key
 * sensitive and non-extractable). Returns the new key version (hex CKA_ID).
 */
export async function createPkcs11Ed25519KeyPair(t: Pkcs11KeyTarget): Promise<string> {
  const label = `${t.label}${SIGN_SUFFIX}`;
  return withToken(t, `creating signing key "${label}"`, (p11, s) => generateEd25519KeyPair(p11, s, label));
}
