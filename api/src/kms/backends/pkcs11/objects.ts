// Key objects on the token, read and created inside an open session (synchronous pkcs11js calls;
// the caller serializes them through TokenSession.run). A key's versions are objects sharing its
// label, told apart by CKA_ID: the hex of the id is the version and the greatest id is current.
// The root key is AES-256 secret key objects; the JWT signing key is an Ed25519 key pair.
import { endianness } from 'node:os';
import type { PKCS11, Template } from 'pkcs11js';
import pkcs11js from 'pkcs11js';
import { KmsConfigError } from '../../../crypto/errors.js';
import type { Handle } from './session.js';

// PKCS#11 3.0 values that pkcs11js 2.1.7 does not export.
const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
/** CKA_EC_PARAMS for Ed25519: DER of OID 1.3.101.112 (RFC 8410). */
const ED25519_OID = Buffer.from('06032b6570', 'hex');
/** The older form some tokens use: DER PrintableString "edwards25519". */
const ED25519_NAME = Buffer.concat([Buffer.from([0x13, 12]), Buffer.from('edwards25519', 'latin1')]);

const AES_KEY_BYTES = 32;
/** A key stored on the token, usable after login only, whose value never leaves it. */
const KEPT_IN_TOKEN: Template = [
  { type: pkcs11js.CKA_TOKEN, value: true },
  { type: pkcs11js.CKA_PRIVATE, value: true },
  { type: pkcs11js.CKA_SENSITIVE, value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, value: false },
];
const ID_BYTES = 8;

// ---------------------------------------------------------------------------------------------
// Attributes and CKA_ID versions.

export function findObjects(p11: PKCS11, session: Handle, template: Template): Handle[] {
  p11.C_FindObjectsInit(session, template);
  try {
    const out: Handle[] = [];
    for (;;) {
      const batch = p11.C_FindObjects(session, 64);
      if (batch.length === 0) return out;
      out.push(...batch);
    }
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

const littleEndian = endianness() === 'LE';

/** A CK_ULONG attribute value (native width and byte order). */
function ulong(value: Buffer): number {
  if (value.length === 8) return Number(littleEndian ? value.readBigUInt64LE() : value.readBigUInt64BE());
  if (value.length === 4) return littleEndian ? value.readUInt32LE() : value.readUInt32BE();
  return -1;
}

function bool(value: Buffer): boolean {
  return value.length > 0 && value[0] !== 0;
}

function attributes(p11: PKCS11, session: Handle, object: Handle, types: number[]): Buffer[] {
  const got = p11.C_GetAttributeValue(
    session,
    object,
    types.map((type) => ({ type })),
  );
  return types.map((t) => got.find((a) => a.type === t)?.value ?? Buffer.alloc(0));
}

/** CKA_ID as an unsigned big-endian integer. */
function idValue(id: Buffer): bigint {
  return id.length === 0 ? 0n : BigInt(`0x${id.toString('hex')}`);
}

function compareIds(a: Buffer, b: Buffer): number {
  const d = idValue(a) - idValue(b);
  return d < 0n ? -1 : d > 0n ? 1 : Buffer.compare(a, b);
}

/** A fresh 8-byte CKA_ID: big-endian milliseconds since the epoch, above every existing id. */
function nextId(existing: Buffer[]): Buffer {
  let next = BigInt(Date.now());
  for (const id of existing) {
    const v = idValue(id);
    if (v >= next) next = v + 1n;
  }
  if (next >= 1n << BigInt(ID_BYTES * 8))
    throw new KmsConfigError('PKCS#11 key ids are exhausted (above 2^64)');
  const out = Buffer.alloc(ID_BYTES);
  out.writeBigUInt64BE(next);
  return out;
}

/** The CKA_ID for a new version of the `objectClass` objects labelled `label`. */
function nextVersionId(p11: PKCS11, session: Handle, objectClass: number, label: string): Buffer {
  const existing = findObjects(p11, session, [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]).map((h) => attributes(p11, session, h, [pkcs11js.CKA_ID])[0] as Buffer);
  return nextId(existing);
}

export interface KeyObject {
  handle: Handle;
  id: Buffer;
  version: string;
}

export function aesKeys(p11: PKCS11, session: Handle, label: string, id?: Buffer): KeyObject[] {
  const template: Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
  ];
  if (id) template.push({ type: pkcs11js.CKA_ID, value: id });
  return findObjects(p11, session, template).map((handle) => {
    const [keyType, valueLen, keyId, enc, dec] = attributes(p11, session, handle, [
      pkcs11js.CKA_KEY_TYPE,
      pkcs11js.CKA_VALUE_LEN,
      pkcs11js.CKA_ID,
      pkcs11js.CKA_ENCRYPT,
      pkcs11js.CKA_DECRYPT,
    ]) as [Buffer, Buffer, Buffer, Buffer, Buffer];
    const where = `PKCS#11 key "${label}"${keyId.length ? ` version ${keyId.toString('hex')}` : ''}`;
    if (ulong(keyType) !== pkcs11js.CKK_AES || ulong(valueLen) !== AES_KEY_BYTES) {
      throw new KmsConfigError(`${where} is not an AES-256 key`);
    }
    if (!bool(enc) || !bool(dec)) throw new KmsConfigError(`${where} must allow CKA_ENCRYPT and CKA_DECRYPT`);
    if (keyId.length === 0) throw new KmsConfigError(`${where} has no CKA_ID (each key version needs one)`);
    return { handle, id: keyId, version: keyId.toString('hex') };
  });
}

/** All versions of the root key, checked; greatest CKA_ID last. */
export function rootKeyVersions(p11: PKCS11, session: Handle, token: string, label: string): KeyObject[] {
  const keys = aesKeys(p11, session, label).sort((a, b) => compareIds(a.id, b.id));
  if (keys.length === 0)
    throw new KmsConfigError(`no AES key labelled "${label}" on PKCS#11 token "${token}"`);
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i] as KeyObject).id.equals((keys[i - 1] as KeyObject).id)) {
      throw new KmsConfigError(
        `two PKCS#11 keys labelled "${label}" share CKA_ID ${(keys[i] as KeyObject).version}`,
      );
    }
  }
  return keys;
}

export function generateAesKey(p11: PKCS11, session: Handle, label: string): string {
  const id = nextVersionId(p11, session, pkcs11js.CKO_SECRET_KEY, label);
  p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: AES_KEY_BYTES },
    ...KEPT_IN_TOKEN,
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: id },
  ]);
  return id.toString('hex');
}

// ---------------------------------------------------------------------------------------------
// Ed25519 signing keys.

interface SigningKey {
  handle: Handle;
  version: string;
  x: Buffer;
}

export function signingKey(p11: PKCS11, session: Handle, label: string): SigningKey | undefined {
  const privates = findObjects(p11, session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]).map((handle) => {
    const [id, canSign] = attributes(p11, session, handle, [pkcs11js.CKA_ID, pkcs11js.CKA_SIGN]) as [
      Buffer,
      Buffer,
    ];
    return { handle, id, canSign: bool(canSign) };
  });
  const usable = privates.filter((k) => k.canSign && k.id.length > 0).sort((a, b) => compareIds(a.id, b.id));
  const current = usable.at(-1);
  if (!current) {
    if (privates.length > 0) {
      throw new KmsConfigError(`PKCS#11 signing key "${label}" needs a CKA_ID and CKA_SIGN`);
    }
    return undefined;
  }
  const version = current.id.toString('hex');
  const [pub] = findObjects(p11, session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: current.id },
  ]);
  if (!pub)
    throw new KmsConfigError(`PKCS#11 signing key "${label}" version ${version} has no public key object`);
  const [params, point] = attributes(p11, session, pub, [pkcs11js.CKA_EC_PARAMS, pkcs11js.CKA_EC_POINT]) as [
    Buffer,
    Buffer,
  ];
  if (!params.equals(ED25519_OID) && !params.equals(ED25519_NAME)) {
    throw new KmsConfigError(`PKCS#11 signing key "${label}" is not an Ed25519 key`);
  }
  // CKA_EC_POINT is a DER OCTET STRING around the 32-byte point; some tokens give it bare.
  let x: Buffer;
  if (point.length === 34 && point[0] === 0x04 && point[1] === 0x20) x = point.subarray(2);
  else if (point.length === 32) x = point;
  else throw new KmsConfigError(`PKCS#11 signing key "${label}" has a malformed CKA_EC_POINT`);
  return { handle: current.handle, version, x: Buffer.from(x) };
}

export function generateEd25519KeyPair(p11: PKCS11, session: Handle, label: string): string {
  const id = nextVersionId(p11, session, pkcs11js.CKO_PRIVATE_KEY, label);
  p11.C_GenerateKeyPair(
    session,
    { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
    [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_VERIFY, value: true },
      { type: pkcs11js.CKA_EC_PARAMS, value: ED25519_OID },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: id },
    ],
    [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
      ...KEPT_IN_TOKEN,
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: id },
    ],
  );
  return id.toString('hex');
}
