// gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K: Google Cloud KMS over gRPC.
//
// Wraps name the exact CryptoKeyVersion and bind it, with the caller's context, into the
// additional authenticated data, so the version recorded in the blob header is authenticated
// too. Every request and response carries CRC32C checksums, verified both ways as Google
// recommends: a corrupted response is an availability fault to retry, never accepted data.

import { createHash, createPublicKey } from 'node:crypto';
import { crc32c } from '@aws-crypto/crc32c';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { encodeFields } from '../../crypto/encoding.js';
import { IntegrityError, KmsConfigError, KmsUnavailableError } from '../../crypto/errors.js';
import { ed25519Jwk, type KmsBackend, type KmsSettings, type KmsSigner, type PublicJwk } from '../types.js';
import type { KeyUri } from '../uri.js';
import { derToJose } from './awskms.js';

type GcpUri = Extract<KeyUri, { backend: 'gcpkms' }>;

// gRPC status codes (google.rpc.Code).
const INVALID_ARGUMENT = 3;
const CONFIG_CODES = new Set([5, 7, 9, 16]); // NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION, UNAUTHENTICATED

function mapError(err: unknown, what: string, invalidArgument: 'integrity' | 'config'): Error {
  if (err instanceof IntegrityError || err instanceof KmsConfigError || err instanceof KmsUnavailableError)
    return err;
  const code = (err as { code?: number }).code;
  const detail = ((err as { details?: string }).details ?? '').slice(0, 200);
  if (code === INVALID_ARGUMENT) {
    return invalidArgument === 'integrity'
      ? new IntegrityError(`GCP KMS ${what}: authentication failed`)
      : new KmsConfigError(`GCP KMS ${what}: ${detail}`);
  }
  if (code !== undefined && CONFIG_CODES.has(code))
    return new KmsConfigError(`GCP KMS ${what}: ${detail || `code ${code}`}`);
  return new KmsUnavailableError(`GCP KMS ${what}: ${detail || (err as Error).message || 'unavailable'}`);
}

const crc = (b: Uint8Array) => ({ value: String(crc32c(b)) });

function crcMatches(data: Uint8Array | string | null | undefined, sum: unknown): boolean {
  const value = (sum as { value?: number | string | Long } | null | undefined)?.value;
  if (value === undefined || value === null || data === null || data === undefined) return false;
  return String(value) === String(crc32c(typeof data === 'string' ? Buffer.from(data, 'base64') : data));
}
type Long = { toString(): string };

function client(settings: KmsSettings): KeyManagementServiceClient {
  const g = settings.gcpkms;
  return new KeyManagementServiceClient({
    ...(g?.apiEndpoint ? { apiEndpoint: g.apiEndpoint } : {}),
    ...(g?.port ? { port: g.port } : {}),
    // An emulator on loopback: plain gRPC, and no Google credentials or metadata server are
    // consulted (the universe domain would otherwise be asked of google-auth).
    ...(g?.insecure ? { sslCreds: grpcCredentials.createInsecure(), universeDomain: 'googleapis.com' } : {}),
  });
}

export async function openGcpKmsBackend(parsed: GcpUri, settings: KmsSettings): Promise<KmsBackend> {
  const kms = client(settings);
  const timeoutMs = settings.timeoutMs ?? 5_000;
  const call = { timeout: timeoutMs, maxRetries: 0 };
  const resource = parsed.resource;
  const versionAad = (aad: Buffer, version: string) =>
    encodeFields('oneclaw/gcpkms/v1', [version, aad.toString('base64')]);

  let primary: { version: string; fetchedAt: number } | undefined;
  const primaryVersion = async (): Promise<string> => {
    if (primary && Date.now() - primary.fetchedAt < 60_000) return primary.version;
    const [key] = await kms.getCryptoKey({ name: resource }, call).catch((err: unknown) => {
      throw mapError(err, `GetCryptoKey ${resource}`, 'config');
    });
    if (key.purpose !== 'ENCRYPT_DECRYPT') {
      throw new KmsConfigError(
        `GCP KMS key ${resource} has purpose ${String(key.purpose)}; need ENCRYPT_DECRYPT`,
      );
    }
    const name = key.primary?.name;
    if (!name || key.primary?.state !== 'ENABLED')
      throw new KmsConfigError(`GCP KMS key ${resource} has no enabled primary version`);
    primary = { version: name.split('/').at(-1) as string, fetchedAt: Date.now() };
    return primary.version;
  };

  try {
    await primaryVersion();
  } catch (err) {
    await kms.close().catch(() => {});
    throw mapError(err, `GetCryptoKey ${resource}`, 'config');
  }

  return {
    name: 'gcpkms',
    keyId: resource,
    async wrap(plaintext, aad) {
      const version = await primaryVersion();
      const bound = versionAad(aad, version);
      try {
        const [res] = await kms.encrypt(
          {
            name: `${resource}/cryptoKeyVersions/${version}`,
            plaintext,
            plaintextCrc32c: crc(plaintext),
            additionalAuthenticatedData: bound,
            additionalAuthenticatedDataCrc32c: crc(bound),
          },
          call,
        );
        const ciphertext = Buffer.from(res.ciphertext ?? []);
        if (
          !res.verifiedPlaintextCrc32c ||
          !res.verifiedAdditionalAuthenticatedDataCrc32c ||
          !crcMatches(ciphertext, res.ciphertextCrc32c)
        ) {
          throw new KmsUnavailableError('GCP KMS Encrypt: checksum mismatch in transit');
        }
        return { keyVersion: version, ciphertext };
      } catch (err) {
        throw mapError(err, 'Encrypt', 'config');
      }
    },
    async unwrap(ciphertext, keyVersion, aad) {
      if (!/^\d+$/.test(keyVersion)) throw new IntegrityError('GCP KMS key blob: malformed key version');
      const bound = versionAad(aad, keyVersion);
      try {
        const [res] = await kms.decrypt(
          {
            name: resource,
            ciphertext,
            ciphertextCrc32c: crc(ciphertext),
            additionalAuthenticatedData: bound,
            additionalAuthenticatedDataCrc32c: crc(bound),
          },
          call,
        );
        const plaintext = Buffer.from(res.plaintext ?? []);
        if (!crcMatches(plaintext, res.plaintextCrc32c)) {
          plaintext.fill(0);
          throw new KmsUnavailableError('GCP KMS Decrypt: checksum mismatch in transit');
        }
        return plaintext;
      } catch (err) {
        throw mapError(err, 'Decrypt', 'integrity');
      }
    },
    async rotate() {
      try {
        const [v] = await kms.createCryptoKeyVersion({ parent: resource, cryptoKeyVersion: {} }, call);
        const id = (v.name ?? '').split('/').at(-1) as string;
        await kms.updateCryptoKeyPrimaryVersion({ name: resource, cryptoKeyVersionId: id }, call);
        primary = { version: id, fetchedAt: Date.now() };
      } catch (err) {
        throw mapError(err, 'rotate', 'config');
      }
    },
    async close() {
      await kms.close();
    },
  };
}

/**
 * An ASYMMETRIC_SIGN key (EC_SIGN_ED25519 → EdDSA, EC_SIGN_P256_SHA256 → ES256) as the JWT
 * signing key; signing happens inside Cloud KMS with its newest enabled version.
 */
export async function openGcpKmsSigner(parsed: GcpUri, settings: KmsSettings): Promise<KmsSigner> {
  const kms = client(settings);
  const call = { timeout: settings.timeoutMs ?? 5_000, maxRetries: 0 };
  try {
    const [versions] = await kms.listCryptoKeyVersions({ parent: parsed.resource }, call);
    const latest = versions
      .filter((v) => v.state === 'ENABLED')
      .sort((a, b) => Number((b.name ?? '').split('/').at(-1)) - Number((a.name ?? '').split('/').at(-1)))[0];
    if (!latest?.name) throw new KmsConfigError(`GCP KMS key ${parsed.resource} has no enabled version`);
    const name = latest.name;
    const algorithm = String(latest.algorithm);
    const alg =
      algorithm === 'EC_SIGN_ED25519' ? 'EdDSA' : algorithm === 'EC_SIGN_P256_SHA256' ? 'ES256' : undefined;
    if (!alg)
      throw new KmsConfigError(
        `GCP KMS key ${parsed.resource} is ${algorithm}; need EC_SIGN_ED25519 or EC_SIGN_P256_SHA256`,
      );
    const [pub] = await kms.getPublicKey({ name }, call);
    if (!pub.pem || !crcMatches(Buffer.from(pub.pem), pub.pemCrc32c))
      throw new KmsUnavailableError('GCP KMS GetPublicKey: checksum mismatch');
    const jwk = createPublicKey(pub.pem).export({ format: 'jwk' });
    const publicJwk: PublicJwk =
      alg === 'EdDSA'
        ? ed25519Jwk(jwk.x as string, name)
        : { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string, kid: name, alg, use: 'sig' };
    return {
      alg,
      kid: name,
      async sign(data) {
        try {
          const request =
            alg === 'EdDSA'
              ? { name, data, dataCrc32c: crc(data) }
              : (() => {
                  const sha256 = createHash('sha256').update(data).digest();
                  return { name, digest: { sha256 }, digestCrc32c: crc(sha256) };
                })();
          const [res] = await kms.asymmetricSign(request, call);
          const signature = Buffer.from(res.signature ?? []);
          if (!crcMatches(signature, res.signatureCrc32c))
            throw new KmsUnavailableError('GCP KMS AsymmetricSign: checksum mismatch');
          return alg === 'EdDSA' ? signature : derToJose(signature, 32);
        } catch (err) {
          throw mapError(err, 'AsymmetricSign', 'config');
        }
      },
      async publicJwk() {
        return publicJwk;
      },
      close: () => kms.close(),
    };
  } catch (err) {
    await kms.close().catch(() => {});
    throw mapError(err, `signing key ${parsed.resource}`, 'config');
  }
}
