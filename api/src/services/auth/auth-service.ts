// Who is calling. Users and agents exchange an API key, workloads a Kubernetes service-account
// token, for a short-lived access token; every request presents that token. A token is only as
// good as its principal: each request also checks that the user or agent is still active and
// the API key it came from is not revoked (cached per principal, dropped at once on change in
// every replica), so disabling, deleting or rotating stops a live token immediately.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Role } from '../../../../contract/src/users.js';
import { withTransaction } from '../../db/pool.js';
import { activeAgentWithKey, isAgentActive } from '../agents/agent-store.js';
import { type AuditEntry, appendAudit } from '../audit/audit-service.js';
import type { AuditWriter } from '../audit/audit-writer.js';
import { type AuthFailure, ServiceError, unauthenticated } from '../errors.js';
import { activeUserRole, activeUserWithKey, insertUser } from '../users/user-store.js';
import { generateApiKey, parseApiKey, verifyApiKey } from './api-keys.js';
import { anyOrgExists, firstOrgId, insertOrg, lockBootstrap } from './auth-store.js';
import type { AuthInvalidation } from './invalidation.js';
import type { K8sTokenValidator } from './k8s-tokens.js';
import { findActiveKey, storeApiKey } from './key-store.js';
import type { TokenService, VerifiedClaims } from './tokens.js';

export type PrincipalKind = 'user' | 'agent' | 'k8s';

export interface Principal {
  kind: PrincipalKind;
  /** User or agent id, or "system:serviceaccount:<ns>:<name>". */
  id: string;
  orgId: string;
  role: Role;
  /** What audit records name: "user:<id>", "agent:<id>" or the service account's username. */
  subject: string;
}

export interface RequestContext {
  requestId?: string | undefined;
  ip?: string | undefined;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
}

export interface AuthService {
  /** On an empty database: the org, an admin user and their API key (returned once). */
  bootstrap(opts: {
    orgName: string;
    adminKey?: string | undefined;
  }): Promise<{ created: boolean; adminKey?: string }>;
  exchangeApiKey(apiKey: string, ctx?: RequestContext): Promise<IssuedToken>;
  exchangeAgentKey(agentId: string, apiKey: string, ctx?: RequestContext): Promise<IssuedToken>;
  exchangeK8sToken(token: string, ctx?: RequestContext): Promise<IssuedToken>;
  authenticate(bearer: string): Promise<Principal>;
}

/** How long a principal's status is trusted without asking the database (invalidation is immediate). */
const STATUS_TTL_MS = 30_000;

interface Status {
  active: boolean;
  role: Role;
}

export function createAuthService(deps: {
  pool: pg.Pool;
  /** Group commit for the records of token exchanges. */
  audit: AuditWriter;
  tokens: TokenService;
  logger: Logger;
  invalidation: AuthInvalidation;
  /** Absent: POST /v1/auth/k8s-token answers 404-like "not enabled". */
  k8s?: K8sTokenValidator | undefined;
  /** Service-account usernames that are org admins (the operator). */
  k8sAdmins?: string[];
}): AuthService {
  const k8sAdmins = new Set(deps.k8sAdmins ?? []);
  const saRole = (username: string): Role => (k8sAdmins.has(username) ? 'admin' : 'member');
  const { pool, tokens, invalidation } = deps;
  const log = deps.logger.child({ component: 'auth' });
  const statuses = new LRUCache<string, Status>({ max: 50_000, ttl: STATUS_TTL_MS });
  // Bumped by every invalidation: a status read while one arrived may predate the change, so it
  // answers its own request but is not cached.
  let generation = 0;
  invalidation.subscribe((stale) => {
    generation++;
    if (stale === 'all') statuses.clear();
    else if ('principal' in stale) {
      for (const key of statuses.keys()) if (key.split('|')[1] === stale.principal) statuses.delete(key);
    }
  });

  const audit = (entry: AuditEntry) => deps.audit.write(entry);
  const refuse = async (
    code: AuthFailure,
    message: string,
    action: string,
    ctx: RequestContext,
    who?: { orgId: string; actor: string },
  ): Promise<never> => {
    log.info({ action, reason: code, ip: ctx.ip, reqId: ctx.requestId }, 'authentication refused');
    if (who) {
      await audit({
        orgId: who.orgId,
        actor: who.actor,
        action,
        decision: 'deny',
        reason: code,
        requestId: ctx.requestId,
      });
    }
    throw unauthenticated(message, code);
  };
  const granted = async (action: string, orgId: string, actor: string, ctx: RequestContext) =>
    audit({ orgId, actor, action, decision: 'allow', requestId: ctx.requestId });

  let defaultOrg: string | undefined;
  const orgForWorkloads = async (): Promise<string> => {
    if (!defaultOrg) {
      defaultOrg = await firstOrgId(pool);
      if (!defaultOrg) throw new ServiceError(503, 'not_ready', 'the server has no organization yet');
    }
    return defaultOrg;
  };

  const statusOf = async (
    claims: VerifiedClaims,
    kind: 'user' | 'agent',
    id: string,
    keyId: string,
  ): Promise<Status> => {
    const key = `${kind}|${id}|${keyId}`;
    const cached = statuses.get(key);
    if (cached) return cached;
    const loadedAt = generation;
    const user = kind === 'user' ? await activeUserWithKey(pool, claims.org, id, keyId) : undefined;
    const agent = kind === 'agent' ? await activeAgentWithKey(pool, claims.org, id, keyId) : undefined;
    const status: Status = { active: !!(user ?? agent), role: user?.role ?? 'member' };
    // An agent that expires soon is re-checked when it does.
    const ttl = agent?.expires_at
      ? Math.min(STATUS_TTL_MS, agent.expires_at.getTime() - Date.now())
      : STATUS_TTL_MS;
    if (ttl > 0 && loadedAt === generation) statuses.set(key, status, { ttl });
    return status;
  };

  return {
    async bootstrap({ orgName, adminKey }) {
      return withTransaction(pool, async (tx) => {
        // Replicas starting together: one bootstraps, the others find the org.
        await lockBootstrap(tx);
        if (await anyOrgExists(tx)) return { created: false };
        const key = adminKey ?? generateApiKey('user');
        const parsed = parseApiKey(key);
        if (parsed?.kind !== 'user')
          throw new Error('ONECLAW_BOOTSTRAP_ADMIN_KEY is not a user API key (ocu_…)');
        const orgId = randomUUID();
        const userId = randomUUID();
        await insertOrg(tx, orgId, orgName);
        await insertUser(tx, { id: userId, org_id: orgId, name: 'admin', role: 'admin' });
        await storeApiKey(tx, orgId, 'user', userId, key);
        await appendAudit(tx, {
          orgId,
          actor: 'system',
          action: 'org.bootstrap',
          decision: 'allow',
          details: { admin: userId },
        });
        return { created: true, ...(adminKey ? {} : { adminKey: key }) };
      });
    },

    async exchangeApiKey(apiKey, ctx = {}) {
      const action = 'auth.token';
      const parsed = parseApiKey(apiKey);
      if (parsed?.kind !== 'user') return refuse('invalid_credentials', 'invalid API key', action, ctx);
      const key = await findActiveKey(pool, parsed.lookup, 'user');
      if (!key || !(await verifyApiKey(apiKey, key.key_hash))) {
        return refuse('invalid_credentials', 'invalid API key', action, ctx);
      }
      const actor = `user:${key.principal_id}`;
      const role = await activeUserRole(pool, key.org_id, key.principal_id);
      if (!role) {
        return refuse('principal_revoked', 'the user is disabled', action, ctx, { orgId: key.org_id, actor });
      }
      await granted(action, key.org_id, actor, ctx);
      return tokens.issue({ sub: actor, org: key.org_id, role, akid: key.id });
    },

    async exchangeAgentKey(agentId, apiKey, ctx = {}) {
      const action = 'auth.agent_token';
      const parsed = parseApiKey(apiKey);
      if (parsed?.kind !== 'agent')
        return refuse('invalid_credentials', 'invalid agent id or API key', action, ctx);
      const key = await findActiveKey(pool, parsed.lookup, 'agent');
      // The same answer for an unknown agent, another agent's key and a wrong key.
      if (!key || key.principal_id !== agentId || !(await verifyApiKey(apiKey, key.key_hash))) {
        return refuse('invalid_credentials', 'invalid agent id or API key', action, ctx);
      }
      const actor = `agent:${agentId}`;
      if (!(await isAgentActive(pool, key.org_id, agentId))) {
        return refuse('principal_revoked', 'the agent is disabled, deleted or expired', action, ctx, {
          orgId: key.org_id,
          actor,
        });
      }
      await granted(action, key.org_id, actor, ctx);
      return tokens.issue({ sub: actor, org: key.org_id, role: 'member', akid: key.id });
    },

    async exchangeK8sToken(token, ctx = {}) {
      const action = 'auth.k8s_token';
      if (!deps.k8s) {
        throw new ServiceError(404, 'not_enabled', 'Kubernetes authentication is not enabled on this server');
      }
      let identity: Awaited<ReturnType<K8sTokenValidator['validate']>>;
      try {
        identity = await deps.k8s.validate(token);
      } catch (err) {
        if (err instanceof ServiceError && err.status === 401) {
          return refuse(err.code as AuthFailure, err.message, action, ctx);
        }
        throw err;
      }
      const orgId = await orgForWorkloads();
      await granted(action, orgId, identity.username, ctx);
      return tokens.issue({
        sub: `sa:${identity.namespace}:${identity.name}`,
        org: orgId,
        role: saRole(identity.username),
      });
    },

    async authenticate(bearer) {
      const claims = await tokens.verify(bearer);
      const sep = claims.sub.indexOf(':');
      const kind = claims.sub.slice(0, sep);
      const id = claims.sub.slice(sep + 1);
      const revoked = () => unauthenticated('the token was revoked', 'principal_revoked');
      if ((kind === 'user' || kind === 'agent') && id && claims.akid) {
        const status = await statusOf(claims, kind, id, claims.akid);
        if (!status.active) throw revoked();
        return { kind, id, orgId: claims.org, role: status.role, subject: claims.sub };
      }
      const sa = /^([a-z0-9.-]{1,253}):([a-z0-9.-]{1,253})$/.exec(id);
      if (kind === 'sa' && sa) {
        const username = `system:serviceaccount:${sa[1]}:${sa[2]}`;
        // The role comes from this server's configuration, not from the token.
        return { kind: 'k8s', id: username, orgId: claims.org, role: saRole(username), subject: username };
      }
      throw unauthenticated('invalid token', 'invalid_token');
    },
  };
}
