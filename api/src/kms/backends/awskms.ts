// awskms://<key id | ARN | alias/name>?region=R: AWS KMS. The key is resolved once at open and
// its ARN recorded, so blobs name the key, not an alias that can be re-pointed. The binding
// context travels as the KMS EncryptionContext (logged by CloudTrail, checked by KMS).

import { createPublicKey } from 'node:crypto';
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetPublicKeyCommand,
  KMSClient,
  SignCommand,
} from '@aws-sdk/client-kms';
import { IntegrityError, KmsConfigError, KmsUnavailableError } from '../../crypto/errors.js';
import type { KmsBackend, KmsSettings, KmsSigner, PublicJwk } from '../types.js';
import type { KeyUri } from '../uri.js';

type AwsUri = Extract<KeyUri, { backend: 'awskms' }>;

const INTEGRITY = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);
const CONFIG = new Set([
  'NotFoundException',
  'DisabledException',
  'KMSInvalidStateException',
  'AccessDeniedException',
  'InvalidKeyUsageException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ValidationException',
]);

function mapError(err: unknown, what: string): Error {
  const name = (err as { name?: string }).name ?? 'Error';
  if (INTEGRITY.has(name)) return new IntegrityError(`AWS KMS ${what}: authentication failed (${name})`);
  if (CONFIG.has(name)) return new KmsConfigError(`AWS KMS ${what}: ${name}`);
  return new KmsUnavailableError(`AWS KMS ${what}: ${name}`);
}

function client(parsed: AwsUri, settings: KmsSettings): KMSClient {
  const region = parsed.region ?? process.env.AWS_REGION;
  if (!region) throw new KmsConfigError(`${parsed.uri}: no region (add ?region=… or set AWS_REGION)`);
  const timeoutMs = settings.timeoutMs ?? 5_000;
  const aws = settings.awskms;
  return new KMSClient({
    region,
    // oneclaw retries with its own jittered policy, and bounds every call.
    maxAttempts: 1,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
    ...(aws?.endpoint ? { endpoint: aws.endpoint } : {}),
    ...(aws?.credentials ? { credentials: aws.credentials } : {}),
  });
}

async function describe(kms: KMSClient, keyId: string) {
  try {
    const out = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    const meta = out.KeyMetadata;
    if (!meta?.Arn) throw new KmsConfigError(`AWS KMS key ${keyId}: no metadata`);
    if (meta.KeyState !== 'Enabled') throw new KmsConfigError(`AWS KMS key ${meta.Arn} is ${meta.KeyState}`);
    return meta;
  } catch (err) {
    if (err instanceof KmsConfigError) throw err;
    throw mapError(err, `DescribeKey ${keyId}`);
  }
}

export async function openAwsKmsBackend(parsed: AwsUri, settings: KmsSettings): Promise<KmsBackend> {
  const kms = client(parsed, settings);
  try {
    const meta = await describe(kms, parsed.keyId);
    if (meta.KeyUsage !== 'ENCRYPT_DECRYPT' || meta.KeySpec !== 'SYMMETRIC_DEFAULT') {
      throw new KmsConfigError(
        `AWS KMS key ${meta.Arn} is ${meta.KeySpec}/${meta.KeyUsage}; need a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key`,
      );
    }
    const arn = meta.Arn as string;
    return {
      name: 'awskms',
      keyId: arn,
      async wrap(plaintext, _aad, context) {
        try {
          const out = await kms.send(
            new EncryptCommand({ KeyId: arn, Plaintext: plaintext, EncryptionContext: { ...context } }),
          );
          if (!out.CiphertextBlob) throw new KmsUnavailableError('AWS KMS Encrypt returned no ciphertext');
          // AWS rotates backing keys inside the same key id; the ciphertext names its backing key.
          return { keyVersion: 'aws', ciphertext: Buffer.from(out.CiphertextBlob) };
        } catch (err) {
          if (err instanceof KmsUnavailableError) throw err;
          throw mapError(err, 'Encrypt');
        }
      },
      async unwrap(ciphertext, keyVersion, _aad, context) {
        if (keyVersion !== 'aws') throw new IntegrityError('AWS KMS key blob: unknown key version');
        try {
          const out = await kms.send(
            new DecryptCommand({ KeyId: arn, CiphertextBlob: ciphertext, EncryptionContext: { ...context } }),
          );
          if (!out.Plaintext) throw new KmsUnavailableError('AWS KMS Decrypt returned no plaintext');
          return Buffer.from(out.Plaintext);
        } catch (err) {
          if (err instanceof KmsUnavailableError) throw err;
          // KMS answers AccessDenied both when we lost access to the key and when the ciphertext
          // names another key (an altered blob). If the key still answers us, it is the blob.
          if ((err as { name?: string }).name === 'AccessDeniedException') {
            const stillOurs = await kms.send(new DescribeKeyCommand({ KeyId: arn })).then(
              () => true,
              () => false,
            );
            if (stillOurs)
              return Promise.reject(new IntegrityError('AWS KMS Decrypt: the ciphertext names another key'));
          }
          throw mapError(err, 'Decrypt');
        }
      },
      async close() {
        kms.destroy();
      },
    };
  } catch (err) {
    kms.destroy();
    throw err;
  }
}

/** An ECC_NIST_P256 SIGN_VERIFY key as the JWT signing key (ES256): AWS KMS has no Ed25519. */
export async function openAwsKmsSigner(parsed: AwsUri, settings: KmsSettings): Promise<KmsSigner> {
  const kms = client(parsed, settings);
  const meta = await describe(kms, parsed.keyId);
  if (meta.KeySpec !== 'ECC_NIST_P256' || meta.KeyUsage !== 'SIGN_VERIFY') {
    kms.destroy();
    throw new KmsConfigError(
      `AWS KMS key ${meta.Arn} is ${meta.KeySpec}/${meta.KeyUsage}; need ECC_NIST_P256 SIGN_VERIFY`,
    );
  }
  const arn = meta.Arn as string;
  const pub = await kms.send(new GetPublicKeyCommand({ KeyId: arn })).catch((err: unknown) => {
    kms.destroy();
    throw mapError(err, 'GetPublicKey');
  });
  const jwk = createPublicKey({ key: Buffer.from(pub.PublicKey ?? []), format: 'der', type: 'spki' }).export({
    format: 'jwk',
  });
  const publicJwk: PublicJwk = {
    kty: 'EC',
    crv: 'P-256',
    x: jwk.x as string,
    y: jwk.y as string,
    kid: arn,
    alg: 'ES256',
    use: 'sig',
  };
  return {
    alg: 'ES256',
    kid: arn,
    async sign(data) {
      try {
        const out = await kms.send(
          new SignCommand({
            KeyId: arn,
            Message: data,
            MessageType: 'RAW',
            SigningAlgorithm: 'ECDSA_SHA_256',
          }),
        );
        return derToJose(Buffer.from(out.Signature ?? []), 32);
      } catch (err) {
        throw mapError(err, 'Sign');
      }
    },
    async publicJwk() {
      return publicJwk;
    },
    close: () => {
      kms.destroy();
    },
  };
}

/** DER ECDSA signature (SEQUENCE of two INTEGERs) → JOSE r||s, each left-padded to `size`. */
export function derToJose(der: Buffer, size: number): Buffer {
  let i = 0;
  const fail = () => new KmsUnavailableError('KMS returned a malformed ECDSA signature');
  if (der[i++] !== 0x30) throw fail();
  let len = der[i++] ?? 0;
  if (len & 0x80) i += len & 0x7f;
  const int = (): Buffer => {
    if (der[i++] !== 0x02) throw fail();
    len = der[i++] ?? 0;
    let v = der.subarray(i, i + len);
    i += len;
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    if (v.length > size) throw fail();
    return Buffer.concat([Buffer.alloc(size - v.length), v]);
  };
  return Buffer.concat([int(), int()]);
}
