// The token exchanges: an API key or a Kubernetes service-account token for a short-lived
// access token.
import Type, { type Static } from 'typebox';
import { Uuid } from './common.js';

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  /** Seconds. */
  expires_in: Type.Integer(),
});
export type TokenResponse = Static<typeof TokenResponse>;

export const UserTokenRequest = Type.Object(
  { api_key: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);
export type UserTokenRequest = Static<typeof UserTokenRequest>;

export const AgentTokenRequest = Type.Object(
  { agent_id: Uuid, api_key: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);
export type AgentTokenRequest = Static<typeof AgentTokenRequest>;

export const K8sTokenRequest = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 16384 }) },
  { additionalProperties: false },
);
export type K8sTokenRequest = Static<typeof K8sTokenRequest>;
