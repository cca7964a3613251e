// Per-principal request rate on every authenticated route, so one member cannot take the
// server's capacity from the others. Admins (people who run the org, and the operator) have a
// limit of their own, higher by default. Runs after authentication: an unauthenticated request
// has no principal here (the token exchanges are limited per client address instead).
import type { FastifyInstance } from 'fastify';
import { createLimiter } from '../../../common/src/limiter.js';
import type { Principal } from '../services/auth/auth-service.js';
import { rateLimited } from '../services/errors.js';

export interface RequestRateLimits {
  /** Requests per second per member principal (burst: two seconds' worth); 0: off. */
  memberPerSecond: number;
  /** The same for org admins. */
  adminPerSecond: number;
}

/** The key every per-principal limit counts under. */
export const principalKey = (p: Principal) => `${p.orgId}|${p.subject}`;

export function registerRequestRateLimits(app: FastifyInstance, limits: RequestRateLimits): void {
  const members = createLimiter({ perSecond: limits.memberPerSecond });
  const admins = createLimiter({ perSecond: limits.adminPerSecond });
  app.addHook('onRequest', async (req) => {
    const p = req.principal;
    if (!p) return;
    const wait = (p.role === 'admin' ? admins : members).take(principalKey(p));
    if (wait) throw rateLimited(`too many requests from this principal; retry in ${wait} s`, wait);
  });
}
