// Cryptographic RPCs of the GCP KMS emulator: Encrypt, Decrypt, AsymmetricSign and GetPublicKey,
// with the real service's size limits and CRC32C integrity fields.

import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { crc32c } from '@aws-crypto/crc32c';
import { failedPrecondition, invalidArgument } from './errors.js';
import {
  assertEnabled,
  type CryptoKeyRec,
  isVersionName,
  type KmsStore,
  PROTECTION_LEVEL,
  type Purpose,
  type VersionRec,
} from './state.js';

export interface Int64Value {
  value?: number | string;
}

export interface EncryptRequest {
  name?: string;
  plaintext?: Buffer;
  additionalAuthenticatedData?: Buffer;
  plaintextCrc32c?: Int64Value | null;
  additionalAuthenticatedDataCrc32c?: Int64Value | null;
}
export interface DecryptRequest {
  name?: string;
  ciphertext?: Buffer;
  additionalAuthenticatedData?: Buffer;
  ciphertextCrc32c?: Int64Value | null;
  additionalAuthenticatedDataCrc32c?: Int64Value | null;
}
export interface AsymmetricSignRequest {
  name?: string;
  digest?: { sha256?: Buffer; sha384?: Buffer; sha512?: Buffer; externalMu?: Buffer } | null;
  digestCrc32c?: Int64Value | null;
  data?: Buffer;
  dataCrc32c?: Int64Value | null;
}
export interface GetPublicKeyRequest {
  name?: string;
  publicKeyFormat?: string;
}

const MAX_INPUT = 64 * 1024;
const DECRYPTION_FAILED = 'Decryption failed: the ciphertext is invalid.';

// Ciphertext layout: format byte, big-endian version id, 12-byte IV, AES-256-GCM output, 16-byte tag.
// The 5-byte header is authenticated together with the caller's AAD, so Decrypt on the CryptoKey
// can find the version that encrypted it, as Cloud KMS ciphertexts do.
const FORMAT = 0x01;
const HEADER_LEN = 5;
const IV_LEN = 12;
const TAG_LEN = 16;

/** P-256 group order. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function bytes(b: Buffer | undefined): Buffer {
  return b ?? Buffer.alloc(0);
}

function int64(value: number): Int64Value {
  return { value };
}

/** Verifies an optional CRC32C field; returns whether it was supplied (the `verified_*` flag). */
function verifyCrc(
  sent: Int64Value | null | undefined,
  data: Buffer,
  crcField: string,
  dataField: string,
): boolean {
  if (sent === null || sent === undefined) return false;
  if (Number(sent.value ?? 0) !== crc32c(data)) {
    throw invalidArgument(`The checksum in field ${crcField} did not match the data in field ${dataField}.`);
  }
  return true;
}

function checkSize(data: Buffer, field: string): void {
  if (data.length > MAX_INPUT) {
    throw invalidArgument(
      `The ${field} must be no larger than ${MAX_INPUT} bytes, got ${data.length} bytes.`,
    );
  }
}

function checkPurpose(key: CryptoKeyRec, purpose: Purpose): void {
  if (key.purpose !== purpose) {
    throw failedPrecondition(
      `Operation requested for Key ${key.name} has incorrect key purpose: ${key.purpose}`,
    );
  }
}

function aesKey(version: VersionRec): Buffer {
  if (version.material.kind !== 'aes') throw new Error(`${version.name} has no symmetric key material`);
  return version.material.key;
}

function ecKeys(version: VersionRec): { privateKey: KeyObject; publicKey: KeyObject } {
  if (version.material.kind !== 'ec') throw new Error(`${version.name} has no asymmetric key material`);
  return version.material;
}

export function encrypt(store: KmsStore, req: EncryptRequest): Record<string, unknown> {
  let key: CryptoKeyRec;
  let version: VersionRec;
  if (req.name && isVersionName(req.name)) {
    ({ key, version } = store.requireVersion(req.name, 'name'));
    checkPurpose(key, 'ENCRYPT_DECRYPT');
  } else {
    key = store.requireKey(req.name, 'name');
    checkPurpose(key, 'ENCRYPT_DECRYPT');
    const primary = key.primaryId === undefined ? undefined : key.versions.get(key.primaryId);
    if (!primary) throw failedPrecondition(`CryptoKey ${key.name} has no primary CryptoKeyVersion.`);
    version = primary;
  }
  assertEnabled(version);

  const plaintext = bytes(req.plaintext);
  const aad = bytes(req.additionalAuthenticatedData);
  if (plaintext.length === 0) throw invalidArgument('Field plaintext is required.');
  checkSize(plaintext, 'plaintext');
  checkSize(aad, 'additional_authenticated_data');
  const verifiedPlaintext = verifyCrc(req.plaintextCrc32c, plaintext, 'plaintext_crc32c', 'plaintext');
  const verifiedAad = verifyCrc(
    req.additionalAuthenticatedDataCrc32c,
    aad,
    'additional_authenticated_data_crc32c',
    'additional_authenticated_data',
  );

  const header = Buffer.alloc(HEADER_LEN);
  header.writeUInt8(FORMAT, 0);
  header.writeUInt32BE(version.id, 1);
  const iv = randomBytes(IV_LEN);
  const cipher = createCipheriv('aes-256-gcm', aesKey(version), iv);
  cipher.setAAD(Buffer.concat([header, aad]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const ciphertext = Buffer.concat([header, iv, body, cipher.getAuthTag()]);
  return {
    name: version.name,
    ciphertext,
    ciphertextCrc32c: int64(crc32c(ciphertext)),
    verifiedPlaintextCrc32c: verifiedPlaintext,
    verifiedAdditionalAuthenticatedDataCrc32c: verifiedAad,
    protectionLevel: PROTECTION_LEVEL,
  };
}

export function decrypt(store: KmsStore, req: DecryptRequest): Record<string, unknown> {
  const key = store.requireKey(req.name, 'name');
  checkPurpose(key, 'ENCRYPT_DECRYPT');
  const ciphertext = bytes(req.ciphertext);
  const aad = bytes(req.additionalAuthenticatedData);
  if (ciphertext.length === 0) throw invalidArgument('Field ciphertext is required.');
  checkSize(aad, 'additional_authenticated_data');
  verifyCrc(req.ciphertextCrc32c, ciphertext, 'ciphertext_crc32c', 'ciphertext');
  verifyCrc(
    req.additionalAuthenticatedDataCrc32c,
    aad,
    'additional_authenticated_data_crc32c',
    'additional_authenticated_data',
  );

  if (ciphertext.length < HEADER_LEN + IV_LEN + TAG_LEN || ciphertext.readUInt8(0) !== FORMAT) {
    throw invalidArgument(DECRYPTION_FAILED);
  }
  const version = key.versions.get(ciphertext.readUInt32BE(1));
  if (!version) throw invalidArgument(DECRYPTION_FAILED);
  assertEnabled(version);

  const header = ciphertext.subarray(0, HEADER_LEN);
  const iv = ciphertext.subarray(HEADER_LEN, HEADER_LEN + IV_LEN);
  const body = ciphertext.subarray(HEADER_LEN + IV_LEN, ciphertext.length - TAG_LEN);
  const tag = ciphertext.subarray(ciphertext.length - TAG_LEN);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey(version), iv);
    decipher.setAAD(Buffer.concat([header, aad]));
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw invalidArgument(DECRYPTION_FAILED);
  }
  return {
    plaintext,
    plaintextCrc32c: int64(crc32c(plaintext)),
    usedPrimary: version.id === key.primaryId,
    protectionLevel: PROTECTION_LEVEL,
  };
}

function toBigInt(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}

function toFixedBytes(n: bigint, len: number): Buffer {
  return Buffer.from(n.toString(16).padStart(len * 2, '0'), 'hex');
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

/** DER INTEGER of a positive value: minimal big-endian bytes, with a 0x00 pad if the top bit is set. */
function derInteger(n: bigint): Buffer {
  const hex = n.toString(16);
  let b = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
  if (((b[0] ?? 0) & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}

/**
 * ECDSA over P-256 of an already computed SHA-256 digest, DER-encoded like Cloud KMS's
 * signatures. node:crypto only signs messages (it hashes them itself), so the point k·G comes
 * from ECDH (the "public key" of private scalar k) and the rest is arithmetic modulo n.
 */
function signP256Digest(privateKey: KeyObject, digest: Buffer): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  const d = toBigInt(Buffer.from(jwk.d ?? '', 'base64url'));
  const z = toBigInt(digest);
  const ecdh = createECDH('prime256v1');
  for (;;) {
    const k = toBigInt(randomBytes(32));
    if (k === 0n || k >= P256_N) continue;
    ecdh.setPrivateKey(toFixedBytes(k, 32));
    const r = toBigInt(ecdh.getPublicKey().subarray(1, 33)) % P256_N;
    if (r === 0n) continue;
    const s = (modPow(k, P256_N - 2n, P256_N) * ((z + r * d) % P256_N)) % P256_N;
    if (s === 0n) continue;
    const seq = Buffer.concat([derInteger(r), derInteger(s)]);
    return Buffer.concat([Buffer.from([0x30, seq.length]), seq]);
  }
}

export function asymmetricSign(store: KmsStore, req: AsymmetricSignRequest): Record<string, unknown> {
  const { key, version } = store.requireVersion(req.name, 'name');
  checkPurpose(key, 'ASYMMETRIC_SIGN');
  assertEnabled(version);

  const data = bytes(req.data);
  const digests = Object.entries(req.digest ?? {}).filter(
    (e): e is [string, Buffer] => Buffer.isBuffer(e[1]) && e[1].length > 0,
  );
  const [digestKind, digest] = digests[0] ?? [];
  if (digest && data.length > 0) throw invalidArgument('Only one of data or digest may be set.');
  checkSize(data, 'data');

  let signature: Buffer;
  let verifiedData = false;
  let verifiedDigest = false;
  const { privateKey } = ecKeys(version);
  if (version.algorithm === 'EC_SIGN_ED25519') {
    if (digest)
      throw invalidArgument(`Field digest is not supported for algorithm ${version.algorithm}; set data.`);
    if (data.length === 0) throw invalidArgument('Field data is required.');
    verifiedData = verifyCrc(req.dataCrc32c, data, 'data_crc32c', 'data');
    signature = sign(null, data, privateKey);
  } else if (digest) {
    if (digestKind !== 'sha256' || digest.length !== 32) {
      throw invalidArgument(`The digest must be a 32-byte sha256 digest for algorithm ${version.algorithm}.`);
    }
    verifiedDigest = verifyCrc(req.digestCrc32c, digest, 'digest_crc32c', 'digest');
    signature = signP256Digest(privateKey, digest);
  } else {
    if (data.length === 0) throw invalidArgument('One of data or digest is required.');
    verifiedData = verifyCrc(req.dataCrc32c, data, 'data_crc32c', 'data');
    signature = signP256Digest(privateKey, createHash('sha256').update(data).digest());
  }
  return {
    signature,
    signatureCrc32c: int64(crc32c(signature)),
    verifiedDigestCrc32c: verifiedDigest,
    verifiedDataCrc32c: verifiedData,
    name: version.name,
    protectionLevel: PROTECTION_LEVEL,
  };
}

export function getPublicKey(store: KmsStore, req: GetPublicKeyRequest): Record<string, unknown> {
  const { key, version } = store.requireVersion(req.name, 'name');
  checkPurpose(key, 'ASYMMETRIC_SIGN');
  assertEnabled(version);
  const { publicKey } = ecKeys(version);
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const format = req.publicKeyFormat ?? 'PUBLIC_KEY_FORMAT_UNSPECIFIED';
  const response: Record<string, unknown> = {
    pem,
    algorithm: version.algorithm,
    pemCrc32c: int64(crc32c(Buffer.from(pem))),
    name: version.name,
    protectionLevel: PROTECTION_LEVEL,
  };
  if (format === 'PEM' || format === 'DER') {
    const data = format === 'PEM' ? Buffer.from(pem) : publicKey.export({ type: 'spki', format: 'der' });
    response.publicKeyFormat = format;
    response.publicKey = { data, crc32cChecksum: int64(crc32c(data)) };
  } else if (format !== 'PUBLIC_KEY_FORMAT_UNSPECIFIED') {
    throw invalidArgument(`Public key format ${format} is not supported for algorithm ${version.algorithm}.`);
  }
  return response;
}
