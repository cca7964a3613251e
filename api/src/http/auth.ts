// Authentication and authorization for /v1. Every request but the token exchanges presents a
// bearer token; routes then ask `authorize` (one vault, one path, one permission) or
// `authorizeScope` (a listing) before they touch any data, so a denial is the same whether or
// not the vault or secret exists. Every denial is audited with its reason.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditWriter } from '../services/audit/audit-writer.js';
import type { AuthService, Principal } from '../services/auth/auth-service.js';
import type { DenyReason } from '../services/errors.js';
import { unauthenticated } from '../services/errors.js';
import {
  type Decision,
  denial,
  type GrantPermission,
  type PolicyService,
  type RequestEnv,
} from '../services/policies/policy-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyInstance {
    authz: Authz;
  }
}

export type Permission = GrantPermission | 'admin';

interface Authz {
  auth: AuthService;
  policies: PolicyService;
  audit: AuditWriter;
}

function bearerOf(req: FastifyRequest): string {
  const header = req.headers.authorization;
  const m = header ? /^Bearer ([A-Za-z0-9_.-]+)$/.exec(header) : null;
  if (!m?.[1]) throw unauthenticated('send Authorization: Bearer <token> (get one at POST /v1/auth/token)');
  return m[1];
}

export function registerAuth(app: FastifyInstance, deps: Authz): void {
  app.decorateRequest('principal', null);
  app.decorate('authz', deps);
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/v1/') || req.url.startsWith('/v1/auth/')) return;
    req.principal = await deps.auth.authenticate(bearerOf(req));
  });
}

/**
 * Authenticates the request's token again, as a new request would be: for answers given long
 * after the request arrived (the change feed), so that an expired token or a disabled,
 * deleted or revoked principal stops them at once.
 */
export async function reauthenticate(req: FastifyRequest): Promise<Principal> {
  req.principal = await req.server.authz.auth.authenticate(bearerOf(req));
  return req.principal;
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthenticated();
  return req.principal;
}

export function requestEnv(req: FastifyRequest): RequestEnv {
  return { ip: req.ip, now: new Date() };
}

async function refuse(
  req: FastifyRequest,
  p: Principal,
  reason: DenyReason,
  what: { permission: Permission; vaultId?: string | undefined; path?: string | undefined },
): Promise<never> {
  await req.server.authz.audit.write({
    orgId: p.orgId,
    actor: p.subject,
    action: `authz.${what.permission}`,
    decision: 'deny',
    reason,
    vaultId: what.vaultId,
    path: what.path,
    requestId: req.id,
    details: { ip: req.ip },
  });
  const target = what.path ? `${what.permission} on ${what.path}` : `${what.permission} in this vault`;
  throw denial(reason, what.permission === 'admin' ? 'administer the organization' : target);
}

/**
 * The authorization decision for one request: org admins may do everything in their org;
 * anyone else needs a grant for `permission` on `path` (on some path of the vault when `path`
 * is undefined).
 */
export async function authorize(
  req: FastifyRequest,
  vaultId: string | undefined,
  path: string | undefined,
  permission: Permission,
): Promise<Principal> {
  const p = principalOf(req);
  if (p.role === 'admin') return p;
  if (permission === 'admin' || vaultId === undefined) {
    return refuse(req, p, 'admin_required', { permission, vaultId, path });
  }
  const decision: Decision = await req.server.authz.policies.decide(
    p,
    vaultId,
    path,
    path === undefined && permission === 'list' ? 'any' : permission,
    requestEnv(req),
  );
  if (!decision.allow) return refuse(req, p, decision.reason, { permission, vaultId, path });
  return p;
}

/**
 * For listings: undefined for admins (everything), otherwise the grant patterns (path globs)
 * the caller may use one of `permissions` under, for the store or `matchesPath` to filter by.
 */
export async function authorizeScope(
  req: FastifyRequest,
  vaultId: string,
  permissions: GrantPermission[],
  prefix = '',
): Promise<{ principal: Principal; patterns: string[] | undefined }> {
  const p = principalOf(req);
  if (p.role === 'admin') return { principal: p, patterns: undefined };
  const scope = await req.server.authz.policies.scope(p, vaultId, permissions, prefix, requestEnv(req));
  if (!scope.allow) {
    return refuse(req, p, scope.reason, {
      permission: permissions[0] ?? 'list',
      vaultId,
      path: prefix || undefined,
    });
  }
  return { principal: p, patterns: scope.patterns };
}
