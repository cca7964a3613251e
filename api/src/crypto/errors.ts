// Typed errors of the crypto and KMS layers. The HTTP layer maps them to status codes
// (integrity → 500-class internal alarm is never used: a blob that fails authentication is a
// data-integrity fault reported as such; unavailable → 503; config → boot failure).
// Messages never contain key material, plaintexts or tokens.

export class CryptoError extends Error {
  override name = 'CryptoError';
}

/** A blob failed to parse or authenticate: tampered, truncated, moved, or the wrong key. */
export class IntegrityError extends CryptoError {
  override name = 'IntegrityError';
}

/** The KMS could not be reached or did not answer in time; retrying later may work. */
export class KmsUnavailableError extends CryptoError {
  override name = 'KmsUnavailableError';
}

/** The KMS is reachable but the key is wrong, missing, disabled or not allowed. Not retried. */
export class KmsConfigError extends CryptoError {
  override name = 'KmsConfigError';
}
