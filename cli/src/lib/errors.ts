// How the CLI fails: one line on stderr (the API's code and request id when there is one; never
// a stack, a key, a token or a value) and an exit code a script can branch on. docs/cli.md
// lists the codes.
import { CmekError, OneclawError } from '../../../sdk/src/index.js';

export const EXIT = {
  ok: 0,
  /** Anything not listed below (400 invalid input, 5xx other than 503, a failed job). */
  error: 1,
  /** Wrong usage: unknown command or option, missing argument, missing input. */
  usage: 2,
  /** Not authenticated: not logged in, a refused API key, an expired token (401). */
  auth: 3,
  /** Denied by policy or an admin-only action (403). */
  denied: 4,
  /** Not found (404), or gone: expired, used up, destroyed (410). */
  notFound: 5,
  /** Conflict (409): check-and-set, CMEK already on / not on (also a plain value to a CMEK vault), a rotation running (a key mismatch is 8). */
  conflict: 6,
  /** The API, its KMS or database is unavailable, rate limited, or did not answer (503, 429, network). */
  unavailable: 7,
  /** CMEK: the key does not decrypt, does not match the vault's fingerprint, or is malformed. */
  cmek: 8,
} as const;

/** A failure the CLI itself detects, with its exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

export const usage = (message: string) => new CliError(EXIT.usage, message);

/**
 * The API's CMEK key errors: exit 8 whatever the status (a key that does not match
 * new_fingerprint is a 400, a key or fingerprint that is not the vault's active one a 409),
 * ahead of the status mapping.
 */
const CMEK_CODES = new Set(['cmek_key_mismatch', 'cmek_fingerprint_mismatch', 'invalid_cmek_key']);

export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof CmekError) return err.code === 'invalid_base64' ? EXIT.usage : EXIT.cmek;
  if (err instanceof OneclawError) {
    if (err.status === 0) return err.code === 'invalid_request' ? EXIT.usage : EXIT.unavailable;
    if (err.status >= 400 && err.status < 500 && CMEK_CODES.has(err.code)) return EXIT.cmek;
    switch (err.status) {
      case 401:
        return EXIT.auth;
      case 403:
        return EXIT.denied;
      case 404:
      case 410:
        return EXIT.notFound;
      case 409:
        return EXIT.conflict;
      case 429:
      case 502:
      case 503:
      case 504:
        return EXIT.unavailable;
      default:
        return EXIT.error;
    }
  }
  return EXIT.error;
}

/** Hints for codes where the next step is not obvious from the message. */
const HINTS: Record<string, string> = {
  invalid_cmek_value: 'this vault uses CMEK: pass --cmek-key-file',
  token_expired: 'run `oneclaw login` again',
  invalid_credentials: 'check the API key, or run `oneclaw login` again',
  principal_revoked: 'the key or its principal was revoked: run `oneclaw login` with a current key',
};

/** The one line printed for an error. */
export function describeError(err: unknown): string {
  if (err instanceof OneclawError) {
    const parts = [`code ${err.code}`];
    if (err.requestId) parts.push(`request ${err.requestId}`);
    const hint = HINTS[err.code];
    return `${err.message} (${parts.join(', ')})${hint ? `; ${hint}` : ''}`;
  }
  if (err instanceof CmekError) return `${err.message} (code ${err.code})`;
  if (err instanceof CliError) return err.message;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  // File system errors: the code and the path are useful; nothing else reaches here.
  if (e && typeof e.message === 'string') return `unexpected error: ${e.message}`;
  return 'unexpected error';
}
