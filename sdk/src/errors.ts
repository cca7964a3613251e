// The one error type the SDK throws. API errors carry the status, reason code and request id
// of the API's envelope `{"error": {"code", "message", "request_id"}}`; failures that never got
// an answer have status 0 (`network_error`, `timeout`, `aborted`). Messages never carry an API
// key, a token or a secret value: the SDK builds its own messages from the method and the URL
// path, and scrubs what it sent out of anything the server says (see `redact`).

export class OneclawError extends Error {
  override readonly name = 'OneclawError';
  /** The HTTP status, or 0 when no response arrived (network failure, timeout, abort). */
  readonly status: number;
  /**
   * The API's reason code (`not_found`, `conflict`, `forbidden`, `token_expired`, …), or for
   * status 0 `network_error`, `timeout` or `aborted`; `invalid_response` when the body was not
   * the API's JSON.
   */
  readonly code: string;
  /** The request id the server answered with (`request_id` or the `x-request-id` header). */
  readonly requestId: string | undefined;

  constructor(status: number, code: string, message: string, requestId?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/** Codes of failures that never reached an answer. */
export const NETWORK_ERROR = 'network_error';
export const TIMEOUT = 'timeout';
export const ABORTED = 'aborted';

/**
 * Replaces every occurrence of any of `secrets` (of at least 4 characters: shorter strings would
 * mangle ordinary words) in `text` with `[redacted]`.
 */
export function redact(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4 && out.includes(s)) out = out.split(s).join('[redacted]');
  }
  return out;
}
