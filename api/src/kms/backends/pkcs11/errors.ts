// How PKCS#11 failures become the typed KMS errors. pkcs11js throws a plain Error whose message
// is the CKR_* name; these sets sort those names into "the token is unavailable right now"
// (KmsUnavailableError, and maybe a new session), "a wrong PIN" and, for everything else,
// "misconfigured" (KmsConfigError). A failed decryption is an IntegrityError instead.
import { CryptoError, IntegrityError, KmsConfigError, KmsUnavailableError } from '../../../crypto/errors.js';

/** Return codes that mean the session, token or library is not usable right now. */
const UNAVAILABLE = new Set([
  'CKR_HOST_MEMORY',
  'CKR_SLOT_ID_INVALID',
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_MEMORY',
  'CKR_DEVICE_REMOVED',
  'CKR_FUNCTION_CANCELED',
  'CKR_FUNCTION_FAILED',
  'CKR_OPERATION_ACTIVE',
  'CKR_SESSION_CLOSED',
  'CKR_SESSION_COUNT',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_OBJECT_HANDLE_INVALID',
]);

/** Of those, the ones after which the session is reopened before the next call. */
export const RESET_SESSION = new Set([
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_REMOVED',
  'CKR_OPERATION_ACTIVE',
  'CKR_SESSION_CLOSED',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_OBJECT_HANDLE_INVALID',
]);

export const BAD_PIN = new Set([
  'CKR_PIN_INCORRECT',
  'CKR_PIN_INVALID',
  'CKR_PIN_LEN_RANGE',
  'CKR_PIN_EXPIRED',
  'CKR_PIN_LOCKED',
]);

/** The CKR_* name of a pkcs11js error (its message), or undefined for anything else. */
export function ckrName(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  return /^CKR_[A-Z0-9_]+$/.test(err.message) ? err.message : undefined;
}

/** Maps a failure of `what` (anything but decryption) to the typed KMS errors. */
export function kmsError(what: string): (err: unknown) => unknown {
  return (err) => {
    if (err instanceof CryptoError) return err;
    const code = ckrName(err);
    if (code === undefined) return err;
    if (UNAVAILABLE.has(code) || code === 'CKR_GENERAL_ERROR') {
      return new KmsUnavailableError(`PKCS#11 ${what} failed: ${code}`);
    }
    return new KmsConfigError(`PKCS#11 ${what} failed: ${code}`);
  };
}

/** Maps a failure of C_DecryptInit / C_Decrypt during unwrap. */
export function decryptError(err: unknown): unknown {
  const code = ckrName(err);
  if (code === undefined) return err;
  if (UNAVAILABLE.has(code)) return new KmsUnavailableError(`PKCS#11 unwrap failed: ${code}`);
  // Wrong AAD, wrong key or altered bytes: SoftHSM2 says CKR_GENERAL_ERROR, others
  // CKR_ENCRYPTED_DATA_INVALID or CKR_ENCRYPTED_DATA_LEN_RANGE.
  return new IntegrityError('PKCS#11 unwrap failed: authentication failed');
}
