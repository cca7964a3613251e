// Response and shared schemas. Responses are serialized through these schemas, so a field that
// is not declared here (a wrapped key, a hash) cannot reach a client even by mistake.
import Type from 'typebox';

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
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);
export const DateTime = Type.String({ format: 'date-time' });
/** A customer-managed key's SHA-256, lowercase hex. */
export const Fingerprint = Type.String({ pattern: '^[0-9a-f]{64}$' });
export const Metadata = Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 1024 }), {
  maxProperties: 64,
});

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
});

export const Vault = Type.Object({
  id: Uuid,
  name: Type.String(),
  description: Type.String(),
  kms_key: Type.String(),
  kms_backend: Type.String(),
  kms_key_id: Type.String(),
  custody: Type.Union([Type.Literal('wrapped'), Type.Literal('kms')]),
  kek_version: Type.Integer(),
  cmek_enabled: Type.Boolean(),
  cmek_fingerprint: Nullable(Fingerprint),
  created_at: DateTime,
  updated_at: DateTime,
});
