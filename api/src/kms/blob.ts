// The self-describing blob a KMS wrap produces:
//
//   0x4b ('K') format byte | u8 backend code | u16 len + key id | u16 len + key version | ciphertext
//
// It names the root key and its version, so a blob keeps decrypting after the key rotates or
// the vault migrates to another backend: unwrap routes by what the blob says.
import { BlobReader, str16 } from '../crypto/encoding.js';
import { IntegrityError } from '../crypto/errors.js';
import { BACKENDS, type BackendName } from './types.js';

const KMS_BLOB_FORMAT = 0x4b;

export interface KmsBlob {
  backend: BackendName;
  keyId: string;
  keyVersion: string;
  ciphertext: Buffer;
}

export function encodeKmsBlob(b: KmsBlob): Buffer {
  const code = BACKENDS.indexOf(b.backend);
  return Buffer.concat([
    Buffer.from([KMS_BLOB_FORMAT, code]),
    str16(b.keyId),
    str16(b.keyVersion),
    b.ciphertext,
  ]);
}

export function decodeKmsBlob(buf: Buffer): KmsBlob {
  const r = new BlobReader(buf, (why) => new IntegrityError(`KMS-wrapped key blob: ${why}`));
  const format = r.u8();
  if (format !== KMS_BLOB_FORMAT)
    throw new IntegrityError(`KMS-wrapped key blob: unknown format 0x${format.toString(16)}`);
  const backend = BACKENDS[r.u8()];
  if (!backend) throw new IntegrityError('KMS-wrapped key blob: unknown backend');
  const keyId = r.str16();
  const keyVersion = r.str16();
  const ciphertext = r.rest();
  if (ciphertext.length === 0) throw new IntegrityError('KMS-wrapped key blob: truncated');
  return { backend, keyId, keyVersion, ciphertext: Buffer.from(ciphertext) };
}
