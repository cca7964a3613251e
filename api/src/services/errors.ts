// Typed errors of the service layer. One error handler (http/errors.ts) maps them to status
// codes; messages are written for API users and never contain secret values or keys.

export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new ServiceError(400, 'invalid_request', message);
/**
 * Why a caller was not authenticated (401) — the error's `code`, and the audit record's reason.
 * None of them says whether a vault or secret exists.
 */
export type AuthFailure =
  | 'unauthenticated' // no credentials
  | 'invalid_credentials' // an API key that does not match an active key
  | 'invalid_token' // malformed, bad signature, wrong issuer or algorithm
  | 'token_expired' // expired or not yet valid
  | 'wrong_audience' // a token minted for another audience
  | 'principal_revoked'; // disabled, deleted or expired principal, or a revoked key

/** Why a policy denied a request (403): the error's `code` and the audit record's reason. */
export type DenyReason =
  | 'forbidden' // no grant covers this vault, path and permission
  | 'grant_expired' // the only grants that would cover it have expired
  | 'ip_not_allowed' // a covering grant exists but not for the client's address
  | 'outside_time_window' // a covering grant exists but not at this time
  | 'admin_required'; // org administration

export const unauthenticated = (message = 'authentication required', code: AuthFailure = 'unauthenticated') =>
  new ServiceError(401, code, message);
export const forbidden = (message = 'denied by policy', code: DenyReason = 'forbidden') =>
  new ServiceError(403, code, message);
export const unavailable = (code: string, message: string) => new ServiceError(503, code, message);
/** A 429; `retryAfterSeconds` becomes the response's retry-after header. */
export class RateLimitedError extends ServiceError {
  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(429, 'rate_limited', message);
  }
}
export const rateLimited = (message: string, retryAfterSeconds?: number) =>
  new RateLimitedError(message, retryAfterSeconds);
export const notFound = (what: string) => new ServiceError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new ServiceError(409, 'conflict', message);
export const gone = (message: string) => new ServiceError(410, 'gone', message);
export const tooLarge = (message: string) => new ServiceError(413, 'too_large', message);
