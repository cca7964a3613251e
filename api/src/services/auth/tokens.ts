// Short-lived access tokens: JWTs signed by the KMS signing key (EdDSA, or ES256 on AWS), with
// the key id in the header. Verification pins the algorithm, issuer and audience, so `none`,
// HS/RS confusion and tokens for another audience are rejected before any claim is read.
import { createHash, randomUUID } from 'node:crypto';
import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { LRUCache } from 'lru-cache';
import type { Role } from '../../../../contract/src/users.js';
import type { KmsSigner, PublicJwk } from '../../kms/types.js';
import { unauthenticated } from '../errors.js';

export const ISSUER = 'oneclaw';
export const AUDIENCE = 'oneclaw-api';

export interface TokenClaims {
  /** "user:<id>" | "agent:<id>" | "sa:<namespace>:<name>" */
  sub: string;
  org: string;
  role?: Role;
  /** The API key the token was exchanged for: revoking or rotating it revokes the token. */
  akid?: string;
}

export type VerifiedClaims = TokenClaims & { jti: string; exp: number };

export interface TokenService {
  issue(claims: TokenClaims): Promise<{ token: string; expiresIn: number }>;
  verify(token: string): Promise<VerifiedClaims>;
  jwks(): Promise<JSONWebKeySet>;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * Signature verification is the most expensive step of a request, so tokens that verified are
 * remembered until they expire: keyed by a SHA-256 of the whole token (a different byte
 * anywhere is a miss), bounded in number. The cache only skips the signature check; whether
 * the principal is still active is checked on every request by the caller.
 */
function verifiedCache(maxEntries: number) {
  if (maxEntries <= 0) return undefined;
  return new LRUCache<string, VerifiedClaims>({ max: maxEntries, ttlAutopurge: false });
}

export async function createTokenService(opts: {
  signer: KmsSigner;
  ttlSeconds: number;
  /**
   * Every public key whose tokens may still be live, the signer's first (the database-backed
   * registry of all replicas' keys). Reloaded every 30 s, and at once (at most every 5 s) when a
   * token names a key not yet known. Absent: only the signer's own key.
   */
  trustedKeys?: () => Promise<PublicJwk[]>;
  /** Verified tokens remembered (default 10 000; 0: verify every time). */
  cacheMaxEntries?: number;
}): Promise<TokenService> {
  const current = await opts.signer.publicJwk();
  let jwks: JSONWebKeySet = { keys: [] };
  let keySet = createLocalJWKSet(jwks);
  let algorithms: string[] = [];
  const install = (keys: PublicJwk[]) => {
    jwks = { keys: keys.map((k) => ({ ...k })) };
    keySet = createLocalJWKSet(jwks);
    algorithms = [...new Set(keys.map((k) => k.alg))];
  };
  install([current]);
  let loadedAt = 0;
  let reloadedForMissAt = 0;
  let loading: Promise<void> | undefined;
  const reload = (): Promise<void> => {
    if (!opts.trustedKeys) return Promise.resolve();
    loading ??= opts
      .trustedKeys()
      .then((keys) => {
        install(keys);
        loadedAt = Date.now();
      })
      // Unreachable database: keep trusting the keys already known.
      .catch(() => {})
      .finally(() => {
        loading = undefined;
      });
    return loading;
  };
  await reload();
  const fresh = () => {
    if (Date.now() - loadedAt > 30_000) void reload();
  };
  const cache = verifiedCache(opts.cacheMaxEntries ?? 10_000);
  const check = (token: string) =>
    jwtVerify(token, keySet, { issuer: ISSUER, audience: AUDIENCE, algorithms });

  return {
    async issue(claims) {
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: opts.signer.alg, kid: opts.signer.kid, typ: 'JWT' };
      const payload = {
        ...claims,
        iss: ISSUER,
        aud: AUDIENCE,
        iat: now,
        nbf: now,
        exp: now + opts.ttlSeconds,
        jti: randomUUID(),
      };
      const input = `${b64(header)}.${b64(payload)}`;
      const sig = await opts.signer.sign(Buffer.from(input));
      return { token: `${input}.${sig.toString('base64url')}`, expiresIn: opts.ttlSeconds };
    },
    async verify(token) {
      const digest = cache ? createHash('sha256').update(token).digest('base64url') : '';
      const hit = cache?.get(digest);
      if (hit) {
        if (hit.exp * 1000 > Date.now()) return hit;
        cache?.delete(digest);
        throw unauthenticated('token expired', 'token_expired');
      }
      fresh();
      let payload: JWTPayload;
      try {
        try {
          ({ payload } = await check(token));
        } catch (err) {
          // A key another replica started using since the last reload.
          if (!(err instanceof joseErrors.JWKSNoMatchingKey) || Date.now() - reloadedForMissAt < 5_000)
            throw err;
          reloadedForMissAt = Date.now();
          await reload();
          ({ payload } = await check(token));
        }
      } catch (err) {
        throw classifyJwtError(err);
      }
      if (
        typeof payload.sub !== 'string' ||
        typeof payload.org !== 'string' ||
        typeof payload.jti !== 'string' ||
        typeof payload.exp !== 'number' ||
        (payload.akid !== undefined && typeof payload.akid !== 'string')
      ) {
        throw unauthenticated('invalid token', 'invalid_token');
      }
      const claims = payload as unknown as VerifiedClaims;
      cache?.set(digest, claims, { ttl: Math.max(1, claims.exp * 1000 - Date.now()) });
      return claims;
    },
    async jwks() {
      fresh();
      return jwks;
    },
  };
}

function classifyJwtError(err: unknown) {
  if (err instanceof joseErrors.JWTExpired) return unauthenticated('token expired', 'token_expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat') {
      return unauthenticated('token not yet valid', 'token_expired');
    }
    if (err.claim === 'aud') return unauthenticated('token is for another audience', 'wrong_audience');
  }
  return unauthenticated('invalid token', 'invalid_token');
}
