// The wire contract's shared pieces: the error body, identifiers, patterned strings and the
// responses every route shares. Responses are serialized through these schemas, so a field that
// is not declared here (a wrapped key, a hash) cannot reach a client even by mistake.
import Type, { type Static } from 'typebox';

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({ code: Type.String(), message: Type.String(), request_id: Type.String() }),
  },
  { $id: 'ErrorResponse' },
);

export const errorResponses = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  410: ErrorResponse,
  413: ErrorResponse,
  415: ErrorResponse,
  429: ErrorResponse,
  500: ErrorResponse,
  503: ErrorResponse,
};

export const Uuid = Type.String({ format: 'uuid' });

/** Rules in words for patterned strings, so a 400 names the rule rather than a regular expression. */
const patternRules = new Map<string, string>();

/** A string that must match `re`, documented and validated; a mismatch is answered with `rule`. */
export function Patterned(
  re: RegExp,
  rule: string,
  opts: { minLength?: number; maxLength?: number; description?: string } = {},
) {
  patternRules.set(re.source, rule);
  return Type.String({ ...opts, pattern: re.source });
}

export const patternRule = (pattern: unknown): string | undefined =>
  typeof pattern === 'string' ? patternRules.get(pattern) : undefined;
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);
export const DateTime = Type.String({ format: 'date-time' });
/** A customer-managed key's SHA-256, lowercase hex. */
export const Fingerprint = Type.String({ pattern: '^[0-9a-f]{64}$' });
/** Free text stored as PostgreSQL text, which cannot hold NUL. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is the character refused.
const NO_NUL = /^[^\u0000]*$/;
export const Text = (opts: { maxLength: number; description?: string }) =>
  Patterned(NO_NUL, 'text may not contain NUL characters', opts);
export const Metadata = Type.Record(Type.String({ maxLength: 128 }), Text({ maxLength: 1024 }), {
  maxProperties: 64,
  // The JSON parser refuses a `__proto__` key anywhere in a body (prototype poisoning), so the
  // schema says so and a generated or hand-written client learns it from the document.
  propertyNames: { minLength: 1, maxLength: 128, pattern: NO_NUL.source, not: { const: '__proto__' } },
});
/** String keys (≤ 128 chars) to string values (≤ 1024 chars), at most 64 entries. */
export type Metadata = Static<typeof Metadata>;
/** Versions and counts are PostgreSQL integers. */
export const INT32_MAX = 2_147_483_647;
