// Who is calling. Users and agents exchange an API key, workloads a Kubernetes service-account
// token, for a short-lived access token; every request presents that token. A token is only as
// good as its principal: each request also checks that the user or agent is still active and
// the API key it came from is not revoked (cached per principal, dropped at once on change in
// every replica), so disabling, deleting or rotating stops a live token immediately.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import type { Logger } from 'pino';
import { query, withTransaction } from '../../db/pool.js';
import { type AuditEntry, appendAudit } from '../audit/audit-service.js';
import { type AuthFailure, ServiceError, unauthenticated } from '../errors.js';
import { generateApiKey, hashApiKey, parseApiKey, verifyApiKey } from './api-keys.js';
import type { AuthInvalidation } from './invalidation.js';
import type { K8sTokenValidator } from './k8s-tokens.js';
import type { TokenService, VerifiedClaims } from './tokens.js';

export type PrincipalKind = 'user' | 'agent' | 'k8s';

export interface Principal {
  kind: PrincipalKind;
  /** User or agent id, or "system:serviceaccount:<ns>:<name>". */
  id: string;
  orgId: string;
  role: 'admin' | 'member';
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
  role: 'admin' | 'member';
}

export function createAuthService(deps: {
  pool: pg.Pool;
  tokens: TokenService;
  logger: Logger;
  invalidation: AuthInvalidation;
  /** Absent: POST /v1/auth/k8s-token answers 404-like "not enabled". */
  k8s?: K8sTokenValidator | undefined;
  /** Service-account usernames that are org admins (the operator). */
  k8sAdmins?: string[];
}): AuthService {
  const k8sAdmins = new Set(deps.k8sAdmins ?? []);
  const saRole = (username: string): 'admin' | 'member' => (k8sAdmins.has(username) ? 'admin' : 'member');
  const { pool, tokens, invalidation } = deps;
  const log = deps.logger.child({ component: 'auth' });
  const statuses = new LRUCache<string, Status>({ max: 50_000, ttl: STATUS_TTL_MS });
  invalidation.subscribe((stale) => {
    if (stale === 'all') statuses.clear();
    else if ('principal' in stale) {
      for (const key of statuses.keys()) if (key.split('|')[1] === stale.principal) statuses.delete(key);
    }
  });

  const audit = (entry: AuditEntry) => withTransaction(pool, (tx) => appendAudit(tx, entry));
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
      const { rows } = await query<{ id: string }>(
        pool,
        'SELECT id FROM orgs ORDER BY created_at, id LIMIT 1',
      );
      if (!rows[0]) throw new ServiceError(503, 'not_ready', 'the server has no organization yet');
      defaultOrg = rows[0].id;
    }
    return defaultOrg;
  };

  const statusOf = async (claims: VerifiedClaims, kind: 'user' | 'agent', id: string): Promise<Status> => {
    const key = `${kind}|${id}|${claims.akid ?? ''}`;
    const cached = statuses.get(key);
    if (cached) return cached;
    const { rows } =
      kind === 'user'
        ? await query<{ role: 'admin' | 'member'; expires_at: null }>(
            pool,
            `SELECT u.role, NULL AS expires_at FROM users u
              WHERE u.id = $1 AND u.org_id = $2 AND u.disabled_at IS NULL
                AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = $3 AND k.principal_id = u.id
                              AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()))`,
            [id, claims.org, claims.akid],
          )
        : await query<{ role: 'member'; expires_at: Date | null }>(
            pool,
            `SELECT 'member' AS role, a.expires_at FROM agents a
              WHERE a.id = $1 AND a.org_id = $2 AND a.disabled_at IS NULL AND a.deleted_at IS NULL
                AND (a.expires_at IS NULL OR a.expires_at > now())
                AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = $3 AND k.principal_id = a.id
                              AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()))`,
            [id, claims.org, claims.akid],
          );
    const row = rows[0];
    const status: Status = { active: !!row, role: row?.role ?? 'member' };
    // An agent that expires soon is re-checked when it does.
    const ttl = row?.expires_at
      ? Math.min(STATUS_TTL_MS, row.expires_at.getTime() - Date.now())
      : STATUS_TTL_MS;
    if (ttl > 0) statuses.set(key, status, { ttl });
    return status;
  };

  interface KeyRow {
    id: string;
    org_id: string;
    principal_id: string;
    key_hash: Buffer;
  }
  const findKey = async (lookup: string, kind: 'user' | 'agent'): Promise<KeyRow | undefined> => {
    const { rows } = await query<KeyRow>(
      pool,
      `SELECT id, org_id, principal_id, key_hash FROM api_keys
        WHERE lookup = $1 AND principal_type = $2 AND revoked_at IS NULL
          AND (expires_at IS NULL OR expires_at > now())`,
      [lookup, kind],
    );
    return rows[0];
  };

  return {
    async bootstrap({ orgName, adminKey }) {
      return withTransaction(pool, async (tx) => {
        // Replicas starting together: one bootstraps, the others find the org.
        await query(tx, 'SELECT pg_advisory_xact_lock(7265001)');
        const existing = await query(tx, 'SELECT 1 FROM orgs LIMIT 1');
        if (existing.rowCount) return { created: false };
        const key = adminKey ?? generateApiKey('user');
        const parsed = parseApiKey(key);
        if (parsed?.kind !== 'user')
          throw new Error('ONECLAW_BOOTSTRAP_ADMIN_KEY is not a user API key (ocu_…)');
        const orgId = randomUUID();
        const userId = randomUUID();
        await query(tx, 'INSERT INTO orgs (id, name) VALUES ($1, $2)', [orgId, orgName]);
        await query(tx, `INSERT INTO users (id, org_id, name, role) VALUES ($1, $2, 'admin', 'admin')`, [
          userId,
          orgId,
        ]);
        await query(
          tx,
          `INSERT INTO api_keys (id, org_id, principal_type, principal_id, lookup, key_hash) VALUES ($1, $2, 'user', $3, $4, $5)`,
          [randomUUID(), orgId, userId, parsed.lookup, await hashApiKey(key)],
        );
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
      const key = await findKey(parsed.lookup, 'user');
      if (!key || !(await verifyApiKey(apiKey, key.key_hash))) {
        return refuse('invalid_credentials', 'invalid API key', action, ctx);
      }
      const actor = `user:${key.principal_id}`;
      const { rows } = await query<{ role: 'admin' | 'member' }>(
        pool,
        'SELECT role FROM users WHERE id = $1 AND org_id = $2 AND disabled_at IS NULL',
        [key.principal_id, key.org_id],
      );
      const user = rows[0];
      if (!user) {
        return refuse('principal_revoked', 'the user is disabled', action, ctx, { orgId: key.org_id, actor });
      }
      await granted(action, key.org_id, actor, ctx);
      return tokens.issue({ sub: actor, org: key.org_id, role: user.role, akid: key.id });
    },

    async exchangeAgentKey(agentId, apiKey, ctx = {}) {
      const action = 'auth.agent_token';
      const parsed = parseApiKey(apiKey);
      if (parsed?.kind !== 'agent')
        return refuse('invalid_credentials', 'invalid agent id or API key', action, ctx);
      const key = await findKey(parsed.lookup, 'agent');
      // The same answer for an unknown agent, another agent's key and a wrong key.
      if (!key || key.principal_id !== agentId || !(await verifyApiKey(apiKey, key.key_hash))) {
        return refuse('invalid_credentials', 'invalid agent id or API key', action, ctx);
      }
      const actor = `agent:${agentId}`;
      const { rows } = await query(
        pool,
        `SELECT 1 FROM agents WHERE id = $1 AND org_id = $2 AND disabled_at IS NULL AND deleted_at IS NULL
            AND (expires_at IS NULL OR expires_at > now())`,
        [agentId, key.org_id],
      );
      if (!rows.length) {
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
        const status = await statusOf(claims, kind, id);
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
